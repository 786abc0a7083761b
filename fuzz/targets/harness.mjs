// What every fuzz target shares. A target's fuzz(data) returns normally for input the parser
// accepts or rejects with its own error class; anything else it throws is a finding.

/** Runs `parse`; an error of one of `allowed` is the parser saying no, and is swallowed. */
export function rejectOnlyWith(allowed, parse) {
  try {
    return parse();
  } catch (error) {
    if (allowed.some((kind) => error instanceof kind)) return undefined;
    throw error;
  }
}

/** A broken invariant: thrown as a plain Error so the fuzzer records the input. */
export function check(condition, what) {
  if (!condition) throw new Error(`invariant broken: ${what}`);
}

/** Input as the services receive text: UTF-8, malformed bytes as U+FFFD. */
export const text = (data) => data.toString('utf8');
