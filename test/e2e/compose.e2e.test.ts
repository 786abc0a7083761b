import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ComposeProject, composeUp, startPodmanSocket, stopPodmanSocket } from './support/compose.js';
import { waitFor } from './support/exec.js';

const examples = join(import.meta.dirname, '../../examples');
let project: ComposeProject | undefined;
beforeAll(startPodmanSocket);
afterAll(stopPodmanSocket);
afterEach(async () => {
  await project?.down();
  project = undefined;
});

describe('example compose files run with docker-compose against podman', () => {
  it('init-container: copy-site completes, then the server serves what it copied', async () => {
    project = await composeUp(join(examples, 'init-container'));
    const running = project;
    const page = await waitFor('the server to answer', async () => {
      const response = await running.curl('http://127.0.0.1:8080/');
      return response.status === 200 ? response.body : undefined;
    });
    expect(page).toContain('built site v1');
  });
});
