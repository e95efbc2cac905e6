/**
 * Quiet hours: a daily window (`start`–`end`, local time in the recipient's time
 * zone, may wrap past midnight) in which nothing is sent.
 *
 * Each night's window is one span of real time, from the instant of `start` to the
 * instant of `end` in that zone, so daylight-saving jumps inside it are counted: a
 * 22:00–07:00 window is 8 hours on a spring-forward night and 10 on a fall-back
 * night. A local time the spring-forward jump skips (02:30 in Berlin on the last
 * Sunday of March) means the moment of the jump, the first instant the local clock
 * is past it. A local time that occurs twice in a fall-back (01:30 in New York on
 * the first Sunday of November) starts a window at its first occurrence and ends
 * one at its second, so the window covers every instant whose local time is inside.
 */

/** A quiet-hours window. */
export interface QuietHours {
  /** Local start, `HH:MM` (24-hour). */
  start: string;
  /** Local end, `HH:MM`; before `start` means the window wraps past midnight. */
  end: string;
  /** IANA time zone, e.g. `America/New_York` (default `UTC`). */
  timeZone?: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

const minutes = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The local wall-clock time of `instant` in `zone`, as milliseconds of a UTC calendar ("naive" local time). */
function wall(instant: number, zone: string): number {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formats.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(instant)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year as number, (p.month as number) - 1, p.day, p.hour, p.minute, p.second) + (instant % 1000 + 1000) % 1000;
}

/** The zone's offset from UTC at `instant`, in milliseconds. */
const offset = (instant: number, zone: string) => wall(instant, zone) - instant;

/**
 * The instant at which the local clock of `zone` shows `local` (naive ms). Skipped
 * by a jump forward: the instant of the jump. Shown twice: the first occurrence
 * (`earlier`) or the second.
 */
export function instantOf(local: number, zone: string, pick: 'earlier' | 'later'): number {
  const before = local - offset(local - DAY, zone);
  const after = local - offset(local + DAY, zone);
  const valid = [before, after].filter((t) => wall(t, zone) === local);
  if (valid.length > 0) return pick === 'earlier' ? Math.min(...valid) : Math.max(...valid);
  // In the gap of a jump forward: find the jump, between the two candidates, to the second.
  let lo = Math.min(before, after);
  let hi = Math.max(before, after);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (wall(mid, zone) >= local) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Seconds from `now` until the window ends, or 0 when `now` is outside it. */
export function quietWait(q: QuietHours, now: Date = new Date()): number {
  const zone = q.timeZone ?? 'UTC';
  const start = minutes(q.start);
  const end = minutes(q.end);
  if (start === end) return 0;
  const t = now.getTime();
  const today = Math.floor(wall(t, zone) / DAY) * DAY;
  // The window that began yesterday (it may wrap into today) or today.
  for (const day of [today - DAY, today]) {
    const from = instantOf(day + start * MINUTE, zone, 'earlier');
    const until = instantOf(day + (end > start ? 0 : DAY) + end * MINUTE, zone, 'later');
    if (t >= from && t < until) return Math.ceil((until - t) / 1000);
  }
  return 0;
}
