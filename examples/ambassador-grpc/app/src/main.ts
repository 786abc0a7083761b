// grpc-demo server | client, settings from the environment, as in a container:
//   server: HOST (default 127.0.0.1), PORT (default 50051), INSTANCE (default HOSTNAME)
//   client: TARGET (default 127.0.0.1:15002), INTERVAL_MS (100), REPORT_MS (2000), DEADLINE_MS (2000)
// Invalid settings exit 2 with one line naming the variable; SIGTERM/SIGINT stop gracefully (exit 0).
import { startCaller } from './client.js';
import { log } from './log.js';
import { startGreeterServer } from './server.js';

class SettingError extends Error {}

function integer(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new SettingError(`${name}: expected an integer from ${min} to ${max}, got "${text}"`);
  return value;
}

async function main(mode: string | undefined): Promise<() => Promise<void>> {
  switch (mode) {
    case 'server': {
      const server = await startGreeterServer({
        host: process.env['HOST'] || '127.0.0.1',
        port: integer('PORT', 50051, 0, 65535),
        instance: process.env['INSTANCE'] || process.env['HOSTNAME'] || 'greeter',
      });
      return async () => {
        await server.stop();
        log('info', 'greeter stopped', { served: server.served() });
      };
    }
    case 'client': {
      const caller = startCaller({
        target: process.env['TARGET'] || '127.0.0.1:15002',
        intervalMs: integer('INTERVAL_MS', 100, 0, 3_600_000),
        reportMs: integer('REPORT_MS', 2000, 100, 3_600_000),
        deadlineMs: integer('DEADLINE_MS', 2000, 1, 3_600_000),
      });
      return () => caller.stop();
    }
    default:
      throw new SettingError(
        `mode: expected "server" or "client" as the first argument, got "${mode ?? ''}"`,
      );
  }
}

try {
  const stop = await main(process.argv[2]);
  const shutdown = () => {
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (error) {
  if (!(error instanceof SettingError)) throw error;
  process.stderr.write(`grpc-demo: ${error.message}\n`);
  process.exit(2);
}
