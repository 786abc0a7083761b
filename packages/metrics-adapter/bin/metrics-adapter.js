#!/usr/bin/env node
// startCli's module is tiny: a SIGTERM while the rest loads exits 0 instead of killing the process.
import { startCli } from '@sidecar-kit/core/start';

await startCli(() => import('../dist/index.js'));
