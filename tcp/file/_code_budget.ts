// What a code may cost: a few wrong attempts in all (default 3), across
// every address and connection, after which the receiver takes it no more.
// A low-entropy code is safe only because each wrong guess is seen and
// counted here; the pre-auth gate's limits apply on top.

/** Wrong codes a receiver takes before the code ends, by default. */
export const DEFAULT_CODE_ATTEMPTS = 3;

/** The wrong attempts left to one code. */
export interface CodeBudget {
  /** Wrong attempts left; 0 once the code has ended. */
  readonly left: number;
  /** A wrong code was tried: counts it (the code ends at 0). */
  failed(): void;
}

/** A budget of `attempts` wrong codes. */
export function createCodeBudget(attempts: number): CodeBudget {
  let left = attempts;
  return {
    get left() {
      return left;
    },
    failed() {
      if (left > 0) left--;
    },
  };
}
