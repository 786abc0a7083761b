import { readFileSync } from 'node:fs';
import type { SidecarDefinition } from '@sidecar-kit/core';
import { type ConfigSchema, configSchema, type LogShipperConfig } from './config.js';
import { DeadLetterWriter } from './dead-letter/writer.js';
import { ShipperMetrics } from './metrics.js';
import { ElasticsearchOutput } from './output/elasticsearch/output.js';
import type { Output } from './output/output.js';
import { StreamOutput } from './output/stream.js';
import { Shipper } from './shipper.js';

export { CheckpointStore } from './checkpoint/store.js';
export { configSchema, type ElasticsearchConfig, type InputConfig, type LogShipperConfig } from './config.js';
export { DeadLetterWriter } from './dead-letter/writer.js';
export { decoders } from './format/index.js';
export { Joiner } from './multiline/joiner.js';
export { ElasticsearchOutput } from './output/elasticsearch/output.js';
export { indexNamer } from './output/elasticsearch/index-name.js';
export { AckTracker } from './pipeline/acks.js';
export { serialize, staticParts } from './pipeline/document.js';
export { Shipper } from './shipper.js';
export { LineReader } from './tail/line-reader.js';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export const definition: SidecarDefinition<ConfigSchema> = {
  name: 'log-shipper',
  version,
  description: 'tails log files from a shared volume and ships every line to Elasticsearch, once',
  schema: configSchema,
  help: 'Config reference: packages/log-shipper/README.md',
  create({ config, logger, registry, metricPrefix, readiness }) {
    const metrics = new ShipperMetrics(registry, metricPrefix);
    const deadLetters = new DeadLetterWriter(config.output.deadLetter.path, config.output.deadLetter.maxBytes, (outcome) => {
      if (outcome === 'rotated') metrics.deadLetterRotations.inc();
    });
    const output = createOutput(config, metrics, deadLetters, logger);
    readiness.register(output.name, () => output.ready());
    return [new Shipper(config, output, metrics, logger, deadLetters)];
  },
};

function createOutput(
  config: LogShipperConfig,
  metrics: ShipperMetrics,
  deadLetters: DeadLetterWriter,
  logger: Parameters<SidecarDefinition<ConfigSchema>['create']>[0]['logger'],
): Output {
  switch (config.output.type) {
    case 'stdout':
      return StreamOutput.stdout();
    case 'file':
      return StreamOutput.file((config.output.file as { path: string }).path);
    case 'elasticsearch':
      return new ElasticsearchOutput(config.output.elasticsearch as NonNullable<LogShipperConfig['output']['elasticsearch']>, metrics, deadLetters, logger);
  }
}
