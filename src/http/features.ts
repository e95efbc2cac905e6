/**
 * Parts of the courier that other features add (queue pause, schedules, metrics,
 * workers, messaging). The handler looks them up when a request arrives, so each
 * endpoint works as soon as its feature is present and answers 501 (or 404 for a
 * webhook) until then.
 */

/** A member function of the courier reached by a dotted path, e.g. `messages.webhooks.twilio`. */
export type MemberFn = (...args: unknown[]) => unknown;

/** The function at `path` on `target`, bound to its owner, or `undefined`. */
export function member(target: unknown, path: string): MemberFn | undefined {
  let owner: unknown;
  let value: unknown = target;
  try {
    for (const key of path.split('.')) {
      if (value === null || value === undefined || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
      owner = value;
      value = (value as Record<string, unknown>)[key];
    }
  } catch {
    return undefined;
  }
  return typeof value === 'function' ? (value as MemberFn).bind(owner) : undefined;
}

/** True when the courier has the member function at `path`. */
export function has(target: unknown, path: string): boolean {
  return member(target, path) !== undefined;
}
