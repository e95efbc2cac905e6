import { describe, expect, it } from 'vitest';
import { backoffSeconds, MAX_BACKOFF_SECONDS } from '../../src/worker/backoff.js';

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
