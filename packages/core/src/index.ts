export { z } from 'zod';
export { Readiness, type ReadinessCheck, type ReadinessReport } from './admin/readiness.js';
export { type AdminRoute, AdminServer, type AdminServerOptions } from './admin/server.js';
export {
  escapeHtml,
  formatAge,
  formatDuration,
  isTableSection,
  renderStatusPage,
  STATUS_PAGE_CSP,
  STATUS_PAGE_HEADERS,
  type StatusCell,
  type StatusField,
  type StatusFieldsSection,
  type StatusModel,
  StatusPage,
  type StatusPageData,
  type StatusPageOptions,
  type StatusProvider,
  type StatusScalar,
  type StatusSection,
  type StatusState,
  type StatusTableSection,
  type StatusValue,
} from './admin/status-page.js';
export { type CliIo, EXIT, runCli } from './cli.js';
export {
  ConfigError,
  type ConfigProblem,
  isUserError,
  MAX_LISTED_PROBLEMS,
  UsageError,
} from './config/errors.js';
export { type Environment, interpolate, MAX_INTERPOLATION_DEPTH } from './config/interpolate.js';
export {
  formatPath,
  type LoadOptions,
  loadConfigFile,
  MAX_CONFIG_BYTES,
  MAX_YAML_ALIASES,
  parseConfig,
} from './config/load.js';
export {
  byteSize,
  type ListenAddress,
  type LogLevel,
  listenAddress,
  logLevel,
  parseListenAddress,
  type RuntimeSections,
  runtimeSections,
} from './config/schemas.js';
export { jsonBody, rawJsonResponse, sendJson } from './http/json-response.js';
export { type Component, component } from './lifecycle/component.js';
export {
  Sidecar,
  type SidecarContext,
  type SidecarDefinition,
  type SidecarStartOptions,
  type StopResult,
  type WorkerAnswer,
} from './lifecycle/sidecar.js';
export { WorkerPool, type WorkerQuery, workerIndex } from './lifecycle/workers.js';
export { listen } from './net/listen.js';
export { type BackoffOptions, backoffMs } from './retry/backoff.js';
export { createLogger, type Logger, type LoggerOptions, REDACTED_KEYS } from './telemetry/logger.js';
export {
  Counter,
  createRegistry,
  Gauge,
  Histogram,
  metricPrefix,
  Registry,
  Summary,
} from './telemetry/metrics.js';
