import { describe, expect, it } from 'vitest';
import { backoffSeconds, MAX_BACKOFF_SECONDS, retryDelaySeconds } from '../../src/worker/backoff.js';

describe('backoffSeconds', () => {
  it('doubles per attempt from retryDelay, with jitter in [1, 1.25)', () => {
    expect(backoffSeconds(1, 10, () => 0)).toBe(10);
    expect(backoffSeconds(2, 10, () => 0)).toBe(20);
    expect(backoffSeconds(3, 10, () => 0)).toBe(40);
    expect(backoffSeconds(3, 10, () => 0.999)).toBeCloseTo(40 * 1.24975);
  });

  it('grows strictly whatever the jitter, until the cap', () => {
    for (let attempt = 1; attempt < 8; attempt++) {
      expect(backoffSeconds(attempt + 1, 1, () => 0)).toBeGreaterThan(backoffSeconds(attempt, 1, () => 0.9999));
    }
  });

  it('caps at an hour unless retryDelay is larger', () => {
    expect(backoffSeconds(40, 60, () => 0)).toBe(MAX_BACKOFF_SECONDS);
    expect(backoffSeconds(5, 7200, () => 0)).toBe(7200);
  });

  it('is zero for a zero retryDelay', () => {
    expect(backoffSeconds(3, 0)).toBe(0);
  });
});

describe('retryDelaySeconds', () => {
  const none = () => 0;
  it('linear grows by retryDelay per attempt, fixed stays at retryDelay without jitter', () => {
    expect([1, 2, 3].map((attempt) => retryDelaySeconds({ backoff: 'linear', attempt, retryDelay: 10, maxDelay: null }, none))).toEqual([10, 20, 30]);
    expect([1, 2, 3].map((attempt) => retryDelaySeconds({ backoff: 'fixed', attempt, retryDelay: 10, maxDelay: null }, () => 0.9))).toEqual([10, 10, 10]);
  });

  it('exponential is the default; maxDelay caps every curve, jitter included', () => {
    expect(retryDelaySeconds({ backoff: undefined, attempt: 3, retryDelay: 10, maxDelay: null }, none)).toBe(40);
    expect(retryDelaySeconds({ backoff: 'exponential', attempt: 10, retryDelay: 10, maxDelay: 25 }, () => 0.9)).toBe(25);
    expect(retryDelaySeconds({ backoff: 'linear', attempt: 10, retryDelay: 10, maxDelay: 25 }, () => 0.9)).toBe(25);
  });

  it('a function gets the failed attempt number; a bad value or a throw falls back to exponential', () => {
    expect(retryDelaySeconds({ backoff: (attempt) => attempt * 7, attempt: 3, retryDelay: 10, maxDelay: null }, none)).toBe(21);
    expect(retryDelaySeconds({ backoff: (attempt) => attempt * 7, attempt: 3, retryDelay: 10, maxDelay: 15 }, none)).toBe(15);
    expect(retryDelaySeconds({ backoff: () => Number.NaN, attempt: 2, retryDelay: 10, maxDelay: null }, none)).toBe(20);
    expect(
      retryDelaySeconds(
        {
          backoff: () => {
            throw new Error('bug in the curve');
          },
          attempt: 2,
          retryDelay: 10,
          maxDelay: null,
        },
        none,
      ),
    ).toBe(20);
  });
});
