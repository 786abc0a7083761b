/** One thing wrong in a config file: where it is, which field, and what was wrong. */
export interface ConfigProblem {
  /** `file:line:col`, or just the file when the problem has no place in it. */
  readonly position: string;
  /** The field as a user writes it (`inputs[0].multiline.start`); absent for whole-file problems. */
  readonly field?: string;
  readonly reason: string;
}

/** At most this many problems are listed; the rest are counted on one more line. */
export const MAX_LISTED_PROBLEMS = 10;

function problemLine(problem: ConfigProblem): string {
  return problem.field === undefined
    ? `${problem.position}: ${problem.reason}`
    : `${problem.position}: ${problem.field}: ${problem.reason}`;
}

/**
 * A mistake in the user's configuration. Its message has one line per problem (at most
 * MAX_LISTED_PROBLEMS, then a count of the rest), each naming the file, the position, the field and
 * what was wrong, so the CLI can print it without a stack trace.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
    problems?: readonly ConfigProblem[],
  ) {
    super(message);
    this.problems = problems ?? [{ position: file ?? '<config>', reason: message }];
  }

  /** A ConfigError that lists several problems, the first one being the headline `field`. */
  static of(file: string, problems: readonly ConfigProblem[]): ConfigError {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map(problemLine);
    if (problems.length > MAX_LISTED_PROBLEMS) {
      listed.push(`${file}: and ${problems.length - MAX_LISTED_PROBLEMS} more problems`);
    }
    return new ConfigError(listed.join('\n'), file, problems[0]?.field, problems);
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
