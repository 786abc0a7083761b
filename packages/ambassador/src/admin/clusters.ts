import { type AdminRoute, sendJson } from '@sidecar-kit/core';
import type { Cluster } from '../cluster/cluster.js';

/** GET /clusters: every cluster with each endpoint's state and counters. */
export function clustersRoute(clusters: readonly Cluster[]): AdminRoute {
  return (_request, response) => {
    sendJson(response, 200, { clusters: clusters.map((cluster) => cluster.snapshot()) });
  };
}
