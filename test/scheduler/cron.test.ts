import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { cronError, nextTick, ticksBetween } from '../../src/scheduler/cron.js';

const at = (s: string) => new Date(`2026-03-01T${s}Z`);

describe('cron ticks (pure)', () => {
  it('lists ticks in (after, until], oldest first', () => {
    expect(ticksBetween('* * * * * *', 'UTC', at('00:00:00.000'), at('00:00:03.000'), 10)).toEqual([at('00:00:01.000'), at('00:00:02.000'), at('00:00:03.000')]);
  });

  it('keeps only the most recent `max` ticks of a long gap, cheaply', () => {
    const t0 = Date.now();
    const ticks = ticksBetween('* * * * * *', 'UTC', new Date('2020-01-01T00:00:00Z'), at('00:00:10.000'), 3);
    expect(ticks).toEqual([at('00:00:08.000'), at('00:00:09.000'), at('00:00:10.000')]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('reads the expression in its time zone', () => {
    // 09:00 in Paris (UTC+1 in March before DST) is 08:00 UTC.
    expect(nextTick('0 9 * * *', 'Europe/Paris', at('00:00:00.000'))).toEqual(at('08:00:00.000'));
    expect(nextTick('0 9 * * *', 'UTC', at('00:00:00.000'))).toEqual(at('09:00:00.000'));
  });

  it('names what is wrong with a bad expression or zone', () => {
    expect(cronError('* * * * *', 'UTC')).toBeNull();
    expect(cronError('not cron', 'UTC')).toMatchObject({ field: 'cron' });
    expect(cronError('* * * * *', 'Mars/Olympus')).toMatchObject({ field: 'timezone' });
    expect(cronError(42, undefined)).toMatchObject({ field: 'cron' });
  });

  it('computes hourly UTC schedules (the built-in cleanup) exactly as cron-parser does', () => {
    const moments = [at('00:00:00.000'), at('00:59:59.999'), at('01:07:00.000'), at('01:07:00.001'), at('23:59:59.999')];
    for (let i = 0; i < 200; i++) moments.push(new Date(Date.UTC(2026, 0, 1) + Math.floor(Math.random() * 400 * 86_400_000)));
    for (const cron of ['0 * * * *', '7 * * * *', '59 * * * *']) {
      for (const after of moments) {
        const parsed = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: after }).next().toDate();
        expect(nextTick(cron, 'UTC', after)).toEqual(parsed);
        const until = new Date(after.getTime() + 5 * 3_600_000 + 1234);
        const it = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: after });
        const expected = Array.from({ length: 8 }, () => it.next().toDate()).filter((d) => d <= until);
        expect(ticksBetween(cron, 'Etc/UTC', after, until, 10)).toEqual(expected);
        expect(ticksBetween(cron, 'UTC', after, until, 2)).toEqual(expected.slice(-2));
      }
    }
    expect(cronError('60 * * * *', 'UTC')).toMatchObject({ field: 'cron' });
  });
});
