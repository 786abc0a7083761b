#!/usr/bin/env node
import { runCli } from '@sidecar-kit/core';
import { definition } from '../dist/index.js';

await runCli(definition);
