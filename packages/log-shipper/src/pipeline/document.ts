import type { LogEvent } from '../event.js';

/** The parts of every document that do not change per event, serialized once. */
export interface StaticParts {
  /** `,"host":{...},"kubernetes":{...},"service":"web"` (static fields and metadata). */
  json: string;
  object: Record<string, unknown>;
}

export function kubernetesMetadata(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const pod: Record<string, string> = {};
  if (env.POD_NAME) pod['name'] = env.POD_NAME;
  if (env.POD_NAMESPACE) pod['namespace'] = env.POD_NAMESPACE;
  if (env.POD_IP) pod['ip'] = env.POD_IP;
  const k8s: Record<string, unknown> = {};
  if (Object.keys(pod).length > 0) {
    k8s['pod'] = { name: pod['name'], ip: pod['ip'] };
    if (pod['name'] === undefined) delete (k8s['pod'] as Record<string, unknown>)['name'];
    if (pod['ip'] === undefined) delete (k8s['pod'] as Record<string, unknown>)['ip'];
    if (pod['namespace']) k8s['namespace'] = pod['namespace'];
  }
  if (env.NODE_NAME) k8s['node'] = { name: env.NODE_NAME };
  if (env.CONTAINER_NAME) k8s['container'] = { name: env.CONTAINER_NAME };
  return Object.keys(k8s).length > 0 ? k8s : undefined;
}

export function staticParts(
  hostName: string,
  fields: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): StaticParts {
  const object: Record<string, unknown> = { host: { name: hostName } };
  const k8s = kubernetesMetadata(env);
  if (k8s) object['kubernetes'] = k8s;
  Object.assign(object, fields);
  let json = '';
  for (const [key, value] of Object.entries(object))
    json += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  return { json, object };
}

/**
 * One event's document. Raw lines (the hot path) are concatenated by hand: one JSON.stringify for
 * the message; events with parsed fields (json, cri, docker) are merged as objects.
 */
export function serialize(
  event: LogEvent,
  fallbackTime: string,
  pathJson: string,
  parts: StaticParts,
): string {
  const timestamp = event.timestamp ?? fallbackTime;
  const flags = event.flags ? `,"flags":${JSON.stringify(event.flags)}` : '';
  if (!event.fields) {
    return `{"@timestamp":"${timestamp}","message":${JSON.stringify(event.message)},"log":{"file":{"path":${pathJson}},"offset":${event.offset}${flags}}${parts.json}}`;
  }
  const parsed = event.fields;
  const log: Record<string, unknown> =
    parsed['log'] !== null && typeof parsed['log'] === 'object' && !Array.isArray(parsed['log'])
      ? { ...(parsed['log'] as Record<string, unknown>) }
      : {};
  log['file'] = { path: JSON.parse(pathJson) as string };
  log['offset'] = event.offset;
  if (event.flags) log['flags'] = event.flags;
  const doc: Record<string, unknown> = { ...parsed, ...parts.object };
  doc['@timestamp'] = timestamp;
  doc['message'] = event.message;
  doc['log'] = log;
  return JSON.stringify(doc);
}
