// ambassador: memcached ASCII protocol, the request parser and the reply parser, picked by bit 4
// of the first byte. Small limits, so their checks are reached too.
import {
  MemcachedReplyParser,
  MemcachedRequestParser,
  ProtocolError,
} from '../../packages/ambassador/dist/protocol/index.js';
import { fuzzStream } from './stream.mjs';

const limits = { maxKeyLength: 32, maxValueLength: 64, maxLineLength: 256, maxKeysPerCommand: 8 };

export function fuzz(data) {
  const reply = data.length > 0 && (data[0] & 0x10) !== 0;
  fuzzStream(
    data,
    () => (reply ? new MemcachedReplyParser(limits) : new MemcachedRequestParser(limits)),
    ProtocolError,
  );
}
