import { afterEach, describe, it } from 'vitest';
import { exampleCases, type StartedExample, startAsPod } from './support/examples.js';

// Every example's story (support/stories.ts), against its Pod played with podman kube play; the
// compose suite runs the same stories against the compose files.
let started: StartedExample | undefined;
afterEach(async () => {
  await started?.down();
  started = undefined;
});

describe('example Pods run with podman kube play', () => {
  for (const example of exampleCases) {
    it(`${example.example}: ${example.proves}`, async () => {
      started = await startAsPod(example);
      await example.story(started.run);
    });
  }
});
