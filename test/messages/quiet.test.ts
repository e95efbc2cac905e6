// Quiet hours across daylight-saving jumps: each night's window is one span of real
// time between the instants of its local start and end in the recipient's zone.
import { describe, expect, it } from 'vitest';
import { instantOf, quietWait } from '../../src/messages/quiet.js';

const at = (iso: string) => new Date(iso);
const H = 3600;
const naive = (iso: string) => Date.parse(`${iso}Z`);

describe('local time to instant (Intl zone data)', () => {
  it('maps a skipped time to the jump and a repeated time to its first or second occurrence', () => {
    // Berlin springs forward on 2026-03-29 at 01:00 UTC (02:00 CET → 03:00 CEST).
    expect(new Date(instantOf(naive('2026-03-29T02:30:00'), 'Europe/Berlin', 'earlier')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(new Date(instantOf(naive('2026-03-29T02:30:00'), 'Europe/Berlin', 'later')).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    // Berlin falls back on 2026-10-25 at 01:00 UTC (03:00 CEST → 02:00 CET): 02:30 happens twice.
    expect(new Date(instantOf(naive('2026-10-25T02:30:00'), 'Europe/Berlin', 'earlier')).toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(new Date(instantOf(naive('2026-10-25T02:30:00'), 'Europe/Berlin', 'later')).toISOString()).toBe('2026-10-25T01:30:00.000Z');
    // New York: 2026-03-08 07:00 UTC (02:00 EST → 03:00 EDT), 2026-11-01 06:00 UTC (02:00 EDT → 01:00 EST).
    expect(new Date(instantOf(naive('2026-03-08T02:15:00'), 'America/New_York', 'earlier')).toISOString()).toBe('2026-03-08T07:00:00.000Z');
    expect(new Date(instantOf(naive('2026-11-01T01:30:00'), 'America/New_York', 'earlier')).toISOString()).toBe('2026-11-01T05:30:00.000Z');
    expect(new Date(instantOf(naive('2026-11-01T01:30:00'), 'America/New_York', 'later')).toISOString()).toBe('2026-11-01T06:30:00.000Z');
    // An ordinary time has one instant.
    expect(new Date(instantOf(naive('2026-07-01T12:00:00'), 'America/New_York', 'later')).toISOString()).toBe('2026-07-01T16:00:00.000Z');
  });
});

describe('quiet hours over the spring-forward jump', () => {
  it('Europe/Berlin 22:00–07:00 on the night the clocks skip an hour lasts 8 hours of real time', () => {
    const q = { start: '22:00', end: '07:00', timeZone: 'Europe/Berlin' };
    // 00:00 CET on 2026-03-29; 07:00 CEST is 05:00 UTC: 6 hours left, not 7 (the wall-clock difference).
    expect(quietWait(q, at('2026-03-28T23:00:00Z'))).toBe(6 * H);
    // 21:00 UTC = 22:00 CET: the window just began; it ends at 05:00 UTC.
    expect(quietWait(q, at('2026-03-28T21:00:00Z'))).toBe(8 * H);
    expect(quietWait(q, at('2026-03-29T04:59:00Z'))).toBe(60);
    expect(quietWait(q, at('2026-03-29T05:00:00Z'))).toBe(0);
  });

  it('a window ending inside the skipped hour ends at the jump; one starting inside it starts at the jump', () => {
    // 23:00–02:30 Berlin: 02:30 never shows on 2026-03-29; the clock passes it at the jump (01:00 UTC),
    // 90 minutes after 00:30 CET.
    expect(quietWait({ start: '23:00', end: '02:30', timeZone: 'Europe/Berlin' }, at('2026-03-28T23:30:00Z'))).toBe(90 * 60);
    expect(quietWait({ start: '23:00', end: '02:30', timeZone: 'Europe/Berlin' }, at('2026-03-29T01:00:00Z'))).toBe(0);
    // 02:30–08:00 New York on 2026-03-08: quiet from the jump (07:00 UTC) to 08:00 EDT (12:00 UTC).
    const ny = { start: '02:30', end: '08:00', timeZone: 'America/New_York' };
    expect(quietWait(ny, at('2026-03-08T06:59:00Z'))).toBe(0);
    expect(quietWait(ny, at('2026-03-08T07:00:00Z'))).toBe(5 * H);
  });

  it('America/New_York 21:00–08:00 across the jump lasts 10 hours', () => {
    const q = { start: '21:00', end: '08:00', timeZone: 'America/New_York' };
    // 21:00 EST on 2026-03-07 is 02:00 UTC on the 8th; 08:00 EDT is 12:00 UTC.
    expect(quietWait(q, at('2026-03-08T02:00:00Z'))).toBe(10 * H);
    expect(quietWait(q, at('2026-03-08T11:30:00Z'))).toBe(30 * 60);
  });
});

describe('quiet hours over the fall-back jump', () => {
  it('Europe/Berlin 22:00–07:00 on the night with an extra hour lasts 10 hours of real time', () => {
    const q = { start: '22:00', end: '07:00', timeZone: 'Europe/Berlin' };
    // 22:00 CEST on 2026-10-24 is 20:00 UTC; 07:00 CET on the 25th is 06:00 UTC.
    expect(quietWait(q, at('2026-10-24T20:00:00Z'))).toBe(10 * H);
    expect(quietWait(q, at('2026-10-24T22:00:00Z'))).toBe(8 * H);
    expect(quietWait(q, at('2026-10-25T05:59:30Z'))).toBe(30);
    expect(quietWait(q, at('2026-10-25T06:00:00Z'))).toBe(0);
  });

  it('America/New_York 00:00–01:30 ends at the second 01:30, covering the repeated hour', () => {
    const q = { start: '00:00', end: '01:30', timeZone: 'America/New_York' };
    // 01:00 EDT (05:00 UTC): the window runs to 01:30 EST (06:30 UTC), 90 minutes on.
    expect(quietWait(q, at('2026-11-01T05:00:00Z'))).toBe(90 * 60);
    // 01:45 EDT (05:45 UTC) reads as outside on the wall clock, but 01:00–01:30 EST is still to come.
    expect(quietWait(q, at('2026-11-01T05:45:00Z'))).toBe(45 * 60);
    expect(quietWait(q, at('2026-11-01T06:30:00Z'))).toBe(0);
    // The next night is an ordinary 90 minutes.
    expect(quietWait(q, at('2026-11-02T05:00:00Z'))).toBe(90 * 60);
  });

  it('a window starting at a repeated time starts at its first occurrence', () => {
    const q = { start: '01:30', end: '06:00', timeZone: 'America/New_York' };
    expect(quietWait(q, at('2026-11-01T05:29:00Z'))).toBe(0);
    // 01:40 EDT: quiet since 01:30 EDT, until 06:00 EST (11:00 UTC).
    expect(quietWait(q, at('2026-11-01T05:40:00Z'))).toBe(5 * H + 20 * 60);
  });
});
