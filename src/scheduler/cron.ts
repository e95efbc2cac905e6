import { createRequire } from 'node:module';
import type { CronExpressionParser as Parser } from 'cron-parser';

let parser: typeof Parser | undefined;

/**
 * cron-parser, loaded on first use: it brings Luxon and costs a process about 9 MB
 * of resident memory, which a worker without schedules should not pay.
 */
function cronParser(): typeof Parser {
  parser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
  return parser;
}

const HOUR_MS = 3_600_000;

/**
 * The minute of an hourly schedule in UTC (`"M * * * *"`, such as the built-in
 * cleanup's `"0 * * * *"`), or null for any other expression. Those ticks are
 * computed here, so a worker whose only schedule is the cleanup never loads
 * cron-parser.
 */
function hourlyUtcMinute(cron: string, timezone: string | undefined): number | null {
  if (timezone !== undefined && timezone !== 'UTC' && timezone !== 'Etc/UTC') return null;
  const m = /^([0-5]?\d) \* \* \* \*$/.exec(cron.trim());
  return m ? Number(m[1]) : null;
}

/** The latest tick of an hourly schedule at or before `at`. */
function hourlyTickAtOrBefore(minute: number, at: number): number {
  const tick = Math.floor(at / HOUR_MS) * HOUR_MS + minute * 60_000;
  return tick <= at ? tick : tick - HOUR_MS;
}

/** Validates a cron expression and time zone; returns the failing field or `null`. */
export function cronError(cron: unknown, timezone: unknown): { field: string; expected: string } | null {
  if (typeof cron !== 'string' || cron.trim() === '' || cron.length > 200) return { field: 'cron', expected: 'must be a cron expression such as "*/5 * * * *"' };
  if (timezone !== undefined && (typeof timezone !== 'string' || !isTimeZone(timezone))) return { field: 'timezone', expected: 'must be an IANA time zone such as "Europe/Paris"' };
  if (hourlyUtcMinute(cron, timezone as string | undefined) !== null) return null;
  try {
    cronParser().parse(cron, { tz: (timezone as string | undefined) ?? 'UTC' });
    return null;
  } catch (err) {
    return { field: 'cron', expected: `must be a valid cron expression (${(err as Error).message})` };
  }
}

function isTimeZone(tz: string): boolean {
  // The first Intl.DateTimeFormat of a process costs ~20 ms and ~8 MB (ICU time zone
  // data); the built-in schedules' zone needs none of it.
  if (tz === 'UTC') return true;
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
  const minute = hourlyUtcMinute(cron, timezone);
  if (minute !== null) {
    const ticks: Date[] = [];
    for (let t = hourlyTickAtOrBefore(minute, until.getTime()); ticks.length < max && t > after.getTime(); t -= HOUR_MS) ticks.push(new Date(t));
    return ticks.reverse();
  }
  // Walk back from `until`, so a long gap costs `max` steps, not one per missed tick.
  const it = cronParser().parse(cron, { tz: timezone, currentDate: new Date(until.getTime() + 1), startDate: new Date(after.getTime() + 1) });
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
  const minute = hourlyUtcMinute(cron, timezone);
  if (minute !== null) return new Date(hourlyTickAtOrBefore(minute, after.getTime()) + HOUR_MS);
  return cronParser().parse(cron, { tz: timezone, currentDate: after }).next().toDate();
}
