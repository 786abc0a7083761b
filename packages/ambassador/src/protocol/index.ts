/** Wire-protocol parsers for the sharding listeners: Redis RESP and memcached ASCII. */
export {
  DEFAULT_MEMCACHED_LIMITS,
  isRetrievalCommand,
  type MemcachedCommand,
  type MemcachedLimits,
  type MemcachedReply,
  MemcachedReplyParser,
  type MemcachedRequest,
  MemcachedRequestParser,
  type MemcachedStatus,
} from './memcached.js';
export {
  DEFAULT_RESP_LIMITS,
  encodeRespCommand,
  isErrorReply,
  type RespAggregateReply,
  type RespBulkReply,
  type RespLimits,
  type RespLineReply,
  type RespReply,
  RespReplyParser,
  type RespRequest,
  RespRequestParser,
  splitInlineArguments,
} from './resp.js';
export { ProtocolError, type ProtocolErrorCode } from './stream-buffer.js';
