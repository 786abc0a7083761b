import { isIP } from 'node:net';
import { z } from 'zod';

export interface ListenAddress {
  host: string;
  port: number;
}

const LISTEN = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/;

/** Parses "host:port" or "[v6]:port". Returns a reason string when it is not one. */
export function parseListenAddress(text: string): ListenAddress | string {
  const match = LISTEN.exec(text);
  if (!match) return `expected host:port (for example 127.0.0.1:8080), found "${text}"`;
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (port > 65535) return `port ${port} is out of range 0-65535`;
  if (match[1] !== undefined && isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  return { host, port };
}

/** A listen address such as 127.0.0.1:2020; a bare port (":2020" or "2020") binds 127.0.0.1. */
export const listenAddress = z
  .union([z.string(), z.number().int()])
  .transform((value, ctx): ListenAddress => {
    let text = String(value);
    if (/^:?\d+$/.test(text)) text = `127.0.0.1:${text.replace(':', '')}`;
    const parsed = parseListenAddress(text);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: parsed });
      return z.NEVER;
    }
    return parsed;
  });

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte size: a number of bytes, or a string such as "5mb", "512kb", "1gib" (binary units). */
export const byteSize = z.union([z.string(), z.number()]).transform((value, ctx): number => {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
    ctx.addIssue({ code: 'custom', message: `expected a whole number of bytes, found ${value}` });
    return z.NEVER;
  }
  const match = SIZE.exec(value.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 512kb or 5mb, found "${value}"` });
    return z.NEVER;
  }
  return Math.floor(Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
});

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export type LogLevel = z.infer<typeof logLevel>;

/** Sections every sidecar shares: the admin server, logging and shutdown. */
export function runtimeSections(defaults: { adminListen: string }) {
  return {
    admin: z
      .strictObject({
        listen: listenAddress.default(parseListenAddress(defaults.adminListen) as ListenAddress),
      })
      .default({ listen: parseListenAddress(defaults.adminListen) as ListenAddress }),
    log: z.strictObject({ level: logLevel.optional() }).default({}),
    shutdown: z
      .strictObject({ graceMs: z.number().int().min(0).default(25_000) })
      .default({ graceMs: 25_000 }),
  };
}

export type RuntimeSections = {
  admin: { listen: ListenAddress };
  log: { level?: LogLevel | undefined };
  shutdown: { graceMs: number };
};
