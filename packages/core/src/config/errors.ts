/**
 * A mistake in the user's configuration. Its message is one line that names the file,
 * the position, the field and what was wrong, so the CLI can print it without a stack trace.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A bad command line (unknown flag, missing value). Printed like a ConfigError. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Errors caused by the user rather than by a bug: printed as one line, no stack trace. */
export function isUserError(error: unknown): error is ConfigError | UsageError {
  return error instanceof ConfigError || error instanceof UsageError;
}
