import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Courier } from '../../src/index.js';
import { testCourier } from '../helpers/db.js';

let courier: Courier;
let order: number[] = [];

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('ordered', (p: { i: number }) => void order.push(p.i));
});
afterAll(() => courier.close({ grace: 0 }));

describe('claim order (property)', () => {
  it('runs any mix of due tasks by priority, then run_at, then id, each exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ priority: fc.integer({ min: 1, max: 10 }), ageMs: fc.integer({ min: 0, max: 5 }).map((n) => 1000 + n * 1000) }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        async (specs, batch) => {
          order = [];
          const now = Date.now();
          const ids = await courier.enqueueMany(specs.map((s, i) => ({ name: 'ordered', payload: { i }, options: { priority: s.priority, runAt: new Date(now - s.ageMs) } })));
          // Claim in batches of `batch`, run one at a time: order must hold across batches.
          let ran: number;
          do ran = await courier.runOnce({ limit: batch, concurrency: batch });
          while (ran > 0);
          const expected = specs
            .map((s, i) => ({ ...s, i, id: BigInt(ids[i] as string) }))
            .sort((a, b) => a.priority - b.priority || b.ageMs - a.ageMs || (a.id < b.id ? -1 : 1))
            .map((s) => s.i);
          expect([...order].sort((a, b) => a - b)).toEqual(specs.map((_, i) => i));
          if (batch === 1) expect(order).toEqual(expected);
          else {
            // Within a concurrently run batch start order is free; batches themselves follow the order.
            const batches = chunk(expected, batch).map((c) => [...c].sort((a, b) => a - b));
            expect(chunk(order, batch).map((c) => [...c].sort((a, b) => a - b))).toEqual(batches);
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
