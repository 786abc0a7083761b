import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../config/schemas.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  name: string;
  level?: LogLevel | undefined;
  /** Where JSON lines go; stdout by default (synchronous, so the last line before exit is not lost). */
  destination?: DestinationStream;
}

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
export const REDACTED_KEYS = [
  'password',
  'apiKey',
  'token',
  'authorization',
  '*.password',
  '*.apiKey',
  '*.token',
  '*.authorization',
  '*.*.password',
  '*.*.apiKey',
  'headers.authorization',
  'headers.cookie',
];

/** Structured JSON logs: one object per line, level as a string, time in ISO 8601. */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info';
  return pino(
    {
      name: options.name,
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_KEYS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
