// For the wire-protocol parsers: the same bytes, in one chunk or in many, must give the same
// frames and the same error (the parsers are incremental: a socket hands them any split).
import { check } from './harness.mjs';

const describe = (value) =>
  JSON.stringify(value, (_key, item) => {
    if (typeof item === 'bigint') return `${item}n`;
    if (item && item.type === 'Buffer' && Array.isArray(item.data))
      return Buffer.from(item.data).toString('hex');
    return item;
  });

/** Frames and outcome of feeding `chunks` to a new parser: ProtocolError codes end it, anything else throws. */
function run(makeParser, ProtocolError, chunks) {
  const parser = makeParser();
  const frames = [];
  try {
    for (const chunk of chunks) for (const frame of parser.feed(chunk)) frames.push(describe(frame));
    parser.end();
    return { frames, error: undefined };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { frames, error: error.code };
  }
}

/** Byte 0 chooses a chunk size (1 to 16) for the second run; the rest is the stream. */
export function fuzzStream(data, makeParser, ProtocolError) {
  if (data.length === 0) return;
  const size = (data[0] % 16) + 1;
  const bytes = Buffer.from(data.subarray(1));
  const whole = run(makeParser, ProtocolError, [bytes]);
  const chunks = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(Buffer.from(bytes.subarray(at, at + size)));
  const split = run(makeParser, ProtocolError, chunks);
  check(
    split.error === whole.error && split.frames.join('\n') === whole.frames.join('\n'),
    `chunks of ${size} bytes parse differently from one chunk: ${JSON.stringify(split).slice(0, 300)} vs ${JSON.stringify(whole).slice(0, 300)}`,
  );
}
