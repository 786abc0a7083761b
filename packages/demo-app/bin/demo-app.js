#!/usr/bin/env node
// Settings come from the environment, as in a container: HOST, PORT, INSTANCE, LOG_FILE,
// LOG_INTERVAL_MS, UPSTREAM_URL, LOG_BURST (write that many lines at start, then keep serving).
import { startDemoApp } from '../dist/index.js';

const env = process.env;
const app = await startDemoApp({
  host: env.HOST ?? '127.0.0.1',
  port: Number(env.PORT ?? 8080),
  instance: env.INSTANCE ?? env.HOSTNAME ?? 'demo-app',
  logFile: env.LOG_FILE,
  logIntervalMs: Number(env.LOG_INTERVAL_MS ?? 1000),
  upstreamUrl: env.UPSTREAM_URL,
});
for (let i = 0; i < Number(env.LOG_BURST ?? 0); i += 1) app.log(`burst line ${i}`);
process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'demo-app listening', url: app.url })}\n`);
const stop = () => app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
