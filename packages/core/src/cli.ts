import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { isUserError, UsageError } from './config/errors.js';
import { loadConfigFile, parseConfig } from './config/load.js';
import type { RuntimeSections } from './config/schemas.js';
import { Sidecar, type SidecarDefinition } from './lifecycle/sidecar.js';
import { WORKER_START_FAILED, workerIndex } from './lifecycle/workers.js';
import { createLogger } from './telemetry/logger.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  exit: (code: number) => void;
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

/** Exit codes: 0 ok, 1 runtime failure or unclean shutdown, 2 bad config or bad command line. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function usage<S extends z.ZodType<RuntimeSections, unknown>>(definition: SidecarDefinition<S>): string {
  return `${definition.name} ${definition.version}: ${definition.description}

Usage: ${definition.name} [--config FILE] [--check-config]

Options:
  -c, --config FILE   YAML or JSON config file; \${VAR} and \${VAR:-default} are read from the environment
                      (default: the file named by $${definition.name.toUpperCase().replace(/-/g, '_')}_CONFIG, else built-in defaults)
      --check-config  validate the config, print a summary and exit (0 valid, 2 invalid)
  -v, --version       print the version
  -h, --help          print this help

Signals: SIGTERM or SIGINT drain and exit 0 within shutdown.graceMs; a second signal exits at once.
${definition.help ? `\n${definition.help}\n` : ''}`;
}

/**
 * The whole command line of a sidecar: a bin file is `runCli(definition)`, or `startCli` (start.ts)
 * around it to handle signals while the modules load.
 * User mistakes print one line naming the file and field and exit 2, never a stack trace.
 */
export async function runCli<S extends z.ZodType<RuntimeSections, unknown>>(
  definition: SidecarDefinition<S>,
  argv: string[] = process.argv.slice(2),
  io: CliIo = defaultIo,
): Promise<void> {
  let config: z.output<S>;
  let checkOnly = false;
  let file: string | undefined;
  try {
    let values: { config?: string; 'check-config'?: boolean; version?: boolean; help?: boolean };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          config: { type: 'string', short: 'c' },
          'check-config': { type: 'boolean' },
          version: { type: 'boolean', short: 'v' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (error) {
      throw new UsageError(`${(error as Error).message} (see --help)`);
    }
    if (values.help) {
      io.stdout(usage(definition));
      return io.exit(EXIT.ok);
    }
    if (values.version) {
      io.stdout(`${definition.version}\n`);
      return io.exit(EXIT.ok);
    }
    checkOnly = values['check-config'] === true;
    file = values.config ?? process.env[`${definition.name.toUpperCase().replace(/-/g, '_')}_CONFIG`];
    config =
      file === undefined
        ? parseConfig('{}', definition.schema, { file: '<defaults>' })
        : loadConfigFile(file, definition.schema);
  } catch (error) {
    if (isUserError(error)) {
      // One line per problem, each prefixed like any other line this CLI prints.
      io.stderr(
        `${error.message
          .split('\n')
          .map((line) => `${definition.name}: ${line}`)
          .join('\n')}\n`,
      );
      return io.exit(EXIT.usage);
    }
    throw error;
  }

  if (checkOnly) {
    io.stdout(`${definition.name}: configuration ${file ?? '<defaults>'} is valid\n`);
    return io.exit(EXIT.ok);
  }

  const worker = workerIndex();
  const logger = createLogger({ name: definition.name, level: config.log.level }).child(
    worker ? { worker } : {},
  );
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'unexpected error');
    io.exit(EXIT.failure);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unexpected error (unhandled rejection)');
    io.exit(EXIT.failure);
  });

  // Signal handlers go in before anything starts: a SIGTERM during startup must drain, not kill.
  let sidecar: Sidecar<z.output<S>> | undefined;
  let stopRequested = false;
  let signals = 0;
  const stop = (running: Sidecar<z.output<S>>) => {
    running.stop().then(
      (result) => io.exit(result.clean ? EXIT.ok : EXIT.failure),
      (error: unknown) => {
        logger.fatal({ err: error }, 'shutdown failed');
        io.exit(EXIT.failure);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      io.exit(EXIT.failure);
      return;
    }
    logger.info({ signal, graceMs: config.shutdown.graceMs }, 'shutting down');
    stopRequested = true;
    if (sidecar) stop(sidecar);
  };
  process.on('SIGTERM', onSignal);
  // Ctrl-C reaches the whole process group: a worker leaves it to its primary, which asks it to drain.
  process.on('SIGINT', worker ? () => {} : onSignal);
  const onStopRequest = () => {
    if (stopRequested) return;
    stopRequested = true;
    if (sidecar) stop(sidecar);
  };

  try {
    sidecar = await Sidecar.start(definition, config, { logger, onStopRequest });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const known = ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', WORKER_START_FAILED];
    if ((code !== undefined && known.includes(code)) || isUserError(error)) {
      logger.fatal({ code }, `cannot start: ${(error as Error).message}`);
    } else {
      logger.fatal({ err: error }, 'cannot start');
    }
    return io.exit(EXIT.failure);
  }
  if (stopRequested) stop(sidecar);
}
