/** twemproxy-compatible key distribution for the sharding listeners. */
export {
  DISTRIBUTION_NAMES,
  type DistributionName,
  KeyDistributor,
  ketamaPointsForServer,
  parseShardServer,
  ShardingConfigError,
  type ShardingOptions,
  type ShardServer,
} from './distribution.js';
export { HASH_NAMES, type HashName, isHashName, KEY_HASHES, type KeyHash } from './hash.js';
