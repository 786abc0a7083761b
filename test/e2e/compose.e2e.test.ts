import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { startPodmanSocket, stopPodmanSocket } from './support/compose.js';
import { exampleCases, type StartedExample, startWithCompose } from './support/examples.js';

// Every example's story (support/stories.ts), against its compose file run with docker-compose
// against podman; the Pod suite runs the same stories against the Pods.
let started: StartedExample | undefined;
beforeAll(startPodmanSocket);
afterAll(stopPodmanSocket);
afterEach(async () => {
  await started?.down();
  started = undefined;
});

describe('example compose files run with docker-compose against podman', () => {
  for (const example of exampleCases) {
    it(`${example.example}: ${example.proves}`, async () => {
      started = await startWithCompose(example);
      await example.story(started.run);
    });
  }
});
