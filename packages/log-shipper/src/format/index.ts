import type { DecodedLine } from '../event.js';

export type Format = 'raw' | 'json' | 'cri' | 'docker';
export type Decoder = (line: string) => DecodedLine;

function isoTime(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

const raw: Decoder = (line) => ({ message: line });

/** JSON lines: object fields are kept; a line that is not a JSON object is kept whole with a flag. */
const json: Decoder = (line) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { message: line, flags: ['json_parse_error'] };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { message: line, flags: ['json_parse_error'] };
  const fields = parsed as Record<string, unknown>;
  const message =
    typeof fields['message'] === 'string'
      ? fields['message']
      : typeof fields['msg'] === 'string'
        ? fields['msg']
        : line;
  const timestamp = isoTime(fields['@timestamp'] ?? fields['time'] ?? fields['timestamp']);
  const decoded: DecodedLine = { message, fields };
  if (timestamp) decoded.timestamp = timestamp;
  return decoded;
};

// <time> <stream> <P|F> <message>, as containerd and CRI-O write /var/log/pods.
const CRI = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/s;
const cri: Decoder = (line) => {
  const match = CRI.exec(line);
  if (!match) return { message: line, flags: ['cri_parse_error'] };
  const decoded: DecodedLine = {
    message: match[4] ?? '',
    fields: { stream: match[2] },
    partial: match[3] === 'P',
  };
  const timestamp = isoTime(match[1]);
  if (timestamp) decoded.timestamp = timestamp;
  return decoded;
};

// Docker's json-file driver: {"log":"text\n","stream":"stdout","time":"..."}; a log without the
// trailing newline was split (16 KiB) and continues in the next line.
const docker: Decoder = (line) => {
  let parsed: { log?: unknown; stream?: unknown; time?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return { message: line, flags: ['docker_parse_error'] };
  }
  if (typeof parsed.log !== 'string') return { message: line, flags: ['docker_parse_error'] };
  const partial = !parsed.log.endsWith('\n');
  const decoded: DecodedLine = { message: partial ? parsed.log : parsed.log.slice(0, -1), partial };
  if (typeof parsed.stream === 'string') decoded.fields = { stream: parsed.stream };
  const timestamp = isoTime(parsed.time);
  if (timestamp) decoded.timestamp = timestamp;
  return decoded;
};

export const decoders: Record<Format, Decoder> = { raw, json, cri, docker };
