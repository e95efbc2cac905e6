import { CronExpressionParser } from 'cron-parser';

/** Validates a cron expression and time zone; returns the failing field or `null`. */
export function cronError(cron: unknown, timezone: unknown): { field: string; expected: string } | null {
  if (typeof cron !== 'string' || cron.trim() === '' || cron.length > 200) return { field: 'cron', expected: 'must be a cron expression such as "*/5 * * * *"' };
  if (timezone !== undefined && (typeof timezone !== 'string' || !isTimeZone(timezone))) return { field: 'timezone', expected: 'must be an IANA time zone such as "Europe/Paris"' };
  try {
    CronExpressionParser.parse(cron, { tz: (timezone as string | undefined) ?? 'UTC' });
    return null;
  } catch (err) {
    return { field: 'cron', expected: `must be a valid cron expression (${(err as Error).message})` };
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Tick times of `cron` in (after, until], oldest first, at most `max` of them
 * (the most recent ones when more are due). Pure: no clock, no database.
 */
export function ticksBetween(cron: string, timezone: string, after: Date, until: Date, max: number): Date[] {
  if (until <= after) return [];
  // Walk back from `until`, so a long gap costs `max` steps, not one per missed tick.
  const it = CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(until.getTime() + 1), startDate: new Date(after.getTime() + 1) });
  const ticks: Date[] = [];
  while (ticks.length < max && it.hasPrev()) {
    const tick = it.prev().toDate();
    if (tick <= after) break;
    ticks.push(tick);
  }
  return ticks.reverse();
}

/** The first tick of `cron` strictly after `after`. */
export function nextTick(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { tz: timezone, currentDate: after }).next().toDate();
}
