// log-shipper: the line decoders (raw, json, CRI, docker json-file) and the multiline/partial
// Joiner. Decoders never throw (bad lines are flagged), so every exception is a finding. Byte 0
// picks the format and whether multiline is on; the rest is the file's lines.
import { decoders } from '../../packages/log-shipper/dist/format/index.js';
import { Joiner } from '../../packages/log-shipper/dist/multiline/joiner.js';
import { check, text } from './harness.mjs';

const FORMATS = ['raw', 'json', 'cri', 'docker'];
const source = { idBase: 'fuzz', path: '/var/log/fuzz.log' };

export function fuzz(data) {
  if (data.length === 0) return;
  const format = FORMATS[data[0] % 4];
  const multiline =
    (data[0] & 4) !== 0 ? { start: /^\S/, maxLines: 1 + (data[0] >> 4), timeoutMs: 1000 } : undefined;
  const decode = decoders[format];
  const events = [];
  const joiner = new Joiner(multiline, (event) => events.push(event));
  const lines = text(data.subarray(1)).split('\n');
  let offset = 0;
  for (const line of lines) {
    const decoded = decode(line);
    check(typeof decoded.message === 'string', `${format}: message is a string`);
    if (decoded.timestamp !== undefined)
      check(!Number.isNaN(Date.parse(decoded.timestamp)), `${format}: timestamp ${decoded.timestamp}`);
    const end = offset + Buffer.byteLength(line) + 1;
    joiner.add(decoded, source, offset, end, 0);
    offset = end;
  }
  joiner.flush();
  // Every line lands in exactly one event, in order: the events tile the file.
  let expected = 0;
  for (const event of events) {
    check(event.offset === expected, `${format}: an event starts at ${event.offset}, not ${expected}`);
    check(event.end > event.offset, `${format}: an event ends after it starts`);
    expected = event.end;
  }
  check(expected === offset, `${format}: the events end at ${expected}, not ${offset}`);
}
