// ambassador: Redis RESP, the request parser (clients' commands) and the reply parser (servers'
// answers), picked by bit 4 of the first byte. Small limits, so their checks are reached too.
import {
  ProtocolError,
  RespReplyParser,
  RespRequestParser,
} from '../../packages/ambassador/dist/protocol/index.js';
import { fuzzStream } from './stream.mjs';

const limits = {
  maxBulkLength: 64,
  maxArrayElements: 16,
  maxInlineLength: 128,
  maxFrameBytes: 1024,
  maxNestingDepth: 8,
};

export function fuzz(data) {
  const reply = data.length > 0 && (data[0] & 0x10) !== 0;
  fuzzStream(
    data,
    () => (reply ? new RespReplyParser(limits) : new RespRequestParser(limits)),
    ProtocolError,
  );
}
