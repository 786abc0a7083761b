import type { z } from 'zod';
import type { RuntimeSections } from './config/schemas.js';
import type { SidecarDefinition } from './lifecycle/sidecar.js';

/**
 * A sidecar's bin: `await startCli(() => import('../dist/index.js'))`. Until the CLI has loaded
 * and put in its own signal handlers nothing has started, so a SIGTERM or Ctrl-C meanwhile (a Pod
 * deleted as it starts, the demo stopped at once) exits 0 at once instead of the process dying of
 * the signal. This module imports nothing at run time, so its handlers are in place before the
 * heavy modules load.
 */
export async function startCli<S extends z.ZodType<RuntimeSections, unknown>>(
  load: () => Promise<{ definition: SidecarDefinition<S> }>,
): Promise<void> {
  const exitEarly = () => process.exit(0);
  process.on('SIGTERM', exitEarly).on('SIGINT', exitEarly);
  const [{ runCli }, { definition }] = await Promise.all([import('./cli.js'), load()]);
  // runCli puts its handlers in before its first await, and a signal reaches JavaScript only from
  // the event loop: removed after that, these never run once runCli's are in, and between the two
  // there is no moment without a handler (then the signal's default action would kill the process).
  const running = runCli(definition);
  process.off('SIGTERM', exitEarly).off('SIGINT', exitEarly);
  await running;
}
