/**
 * Quiet hours: a daily window (`start`–`end`, local time in the recipient's time
 * zone, may wrap past midnight) in which nothing is sent.
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

/** Seconds from `now` until the window ends, or 0 when `now` is outside it. */
export function quietWait(q: QuietHours, now: Date = new Date()): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: q.timeZone ?? 'UTC', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  const local = get('hour') * 60 + get('minute') + get('second') / 60;
  const start = minutes(q.start);
  const end = minutes(q.end);
  if (start === end) return 0;
  const inside = start < end ? local >= start && local < end : local >= start || local < end;
  if (!inside) return 0;
  const left = (end - local + 1440) % 1440;
  return Math.ceil(left * 60);
}
