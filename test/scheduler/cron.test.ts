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
});
