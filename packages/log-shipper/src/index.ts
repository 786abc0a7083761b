import { createRequire } from 'node:module';
import type { Component, Logger, SidecarDefinition } from '@sidecar-kit/core';
import type { BatchLimits } from './batch/dispatcher.js';
import { CheckpointStore } from './checkpoint/store.js';
import { configSchema, type OutputConfig } from './config.js';
import { DeadLetterWriter } from './dead-letter/writer.js';
import { watchDirectories } from './discovery/watcher.js';
import { ShipperMetrics } from './metrics.js';
import { ElasticsearchOutput } from './output/elasticsearch/output.js';
import type { Output } from './output/output.js';
import { StreamOutput } from './output/stream.js';
import { Shipper } from './shipper.js';
import { shipperStatus } from './status.js';

export type { BatchLimits } from './batch/dispatcher.js';
export { CheckpointStore } from './checkpoint/store.js';
export { configSchema, type InputConfig, type LogShipperConfig, type OutputConfig } from './config.js';
export { DeadLetterWriter } from './dead-letter/writer.js';
export type { LogEvent } from './event.js';
export { decoders } from './format/index.js';
export { Joiner } from './multiline/joiner.js';
export { indexNamer } from './output/elasticsearch/index-name.js';
export { ElasticsearchOutput } from './output/elasticsearch/output.js';
export type { Batch, ItemRun, Output, OutputStatus } from './output/output.js';
export { type FileStatus, Shipper } from './shipper.js';
export { formatBytes, type ShipperStatusSources, shipperStatus } from './status.js';
export { LineReader } from './tail/line-reader.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

function createOutput(
  config: OutputConfig,
  metrics: ShipperMetrics,
  deadLetters: DeadLetterWriter,
  logger: Logger,
): { output: Output; limits: BatchLimits } {
  switch (config.type) {
    case 'elasticsearch':
      return {
        output: new ElasticsearchOutput(config.elasticsearch, metrics, deadLetters, logger),
        limits: config.elasticsearch.bulk,
      };
    case 'file':
      return { output: StreamOutput.file(config.file.path), limits: StreamOutput.batchLimits };
    case 'stdout':
      return { output: StreamOutput.stdout(), limits: StreamOutput.batchLimits };
  }
}

export const definition: SidecarDefinition<typeof configSchema> = {
  name: 'log-shipper',
  version,
  description:
    'tails log files from a shared volume and ships them to Elasticsearch, nothing lost, nothing duplicated',
  schema: configSchema,
  help: 'Config reference: https://github.com/sidecar-kit/sidecar-kit/tree/main/packages/log-shipper#configuration',
  create: ({ config, logger, registry, metricPrefix, readiness, setStatusPage }) => {
    const store = new CheckpointStore(config.state.dir, logger);
    const metrics = new ShipperMetrics(registry, metricPrefix, {
      checkpointLastWriteAt: () => store.lastWriteAt,
    });
    const deadLetterPath = config.output.deadLetter.path;
    const deadLetters = new DeadLetterWriter(deadLetterPath, config.output.deadLetter.maxBytes, (outcome) => {
      if (outcome !== 'rotated') return;
      metrics.deadLetterRotations.inc();
      logger.warn({ path: deadLetterPath }, 'dead-letter file full: rotated to .1');
    });
    const { output, limits } = createOutput(config.output, metrics, deadLetters, logger);
    readiness.register(output.name, () => output.ready());
    const shipper = new Shipper(config, output, store, metrics, limits, logger);
    setStatusPage(() => shipperStatus({ config, shipper, output, checkpoints: store, metrics }));
    let watcher: ReturnType<typeof watchDirectories> | undefined;
    const watch: Component = {
      name: 'watch',
      start: () => {
        watcher = watchDirectories(
          config.inputs.flatMap((input) => input.paths),
          () => shipper.poke(),
        );
      },
      stop: async () => {
        await watcher?.close();
      },
    };
    return [shipper, watch];
  },
};
