import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Courier, defineTask } from '../../src/index.js';
import { createTestClock, drainUntilIdle, expectEnqueued, expectNotEnqueued, runTask, TaskRunError } from '../../src/testing/index.js';
import { testCourier } from '../helpers/db.js';

let courier: Courier;
const sent: string[] = [];
const sendWelcome = defineTask({
  name: 'send_welcome',
  payload: z.object({ email: z.string() }),
  async handler({ email }) {
    sent.push(email);
    return { sent: email };
  },
});
beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask(sendWelcome);
});
afterAll(() => courier.close({ grace: 0 }));

describe('pgcourier/testing', () => {
  it('expectEnqueued / expectNotEnqueued match by partial payload or predicate', async () => {
    await courier.enqueueTask('send_welcome', { email: 'a@example.com' });
    const [t] = await expectEnqueued(courier, 'send_welcome', { email: 'a@example.com' });
    expect(t?.payload).toEqual({ email: 'a@example.com' });
    await expectEnqueued(courier, 'send_welcome', (p: { email: string }) => p.email.endsWith('@example.com'));
    await expect(expectEnqueued(courier, 'send_welcome', { email: 'b@example.com' })).rejects.toThrow(/expected a queued "send_welcome" task matching .*found only: \{"email":"a@example.com"\}/);
    await expectNotEnqueued(courier, 'send_welcome', { email: 'b@example.com' });
    await expect(expectNotEnqueued(courier, 'send_welcome')).rejects.toThrow(/found 1/);
    await drainUntilIdle(courier);
    await expectNotEnqueued(courier, 'send_welcome');
  });

  it('runTask runs a handler through the real path and returns its result', async () => {
    expect(await runTask(courier, 'send_welcome', { email: 'c@example.com' })).toEqual({ sent: 'c@example.com' });
    const typed = await runTask(courier, sendWelcome, { email: 'd@example.com' });
    expect(typed.sent).toBe('d@example.com');
    courier.registerTask('always_fails', () => {
      throw new Error('smtp down');
    });
    const err = await runTask(courier, 'always_fails', {}, { maxRetries: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskRunError);
    expect((err as TaskRunError).task).toMatchObject({ status: 'failed', lastError: 'Error: smtp down' });
    await expect(runTask(courier, 'send_welcome', { email: 1 })).rejects.toMatchObject({ field: 'payload.email' });
  });

  it('a delayed task and a retry, tested with the clock in well under a second', async () => {
    const started = Date.now();
    const clock = createTestClock(courier);
    const delayed = await courier.enqueueTask('send_welcome', { email: 'later@example.com' }, { runAt: new Date(Date.now() + 3600_000) });
    expect(await drainUntilIdle(courier)).toBe(0);
    await clock.advance(3599);
    expect(await drainUntilIdle(courier)).toBe(0);
    await clock.advance(1);
    expect(await drainUntilIdle(courier)).toBe(1);
    expect((await courier.getTask(delayed))?.status).toBe('succeeded');

    let calls = 0;
    courier.registerTask('flaky', () => {
      calls++;
      if (calls === 1) throw new Error('first try fails');
      return 'ok';
    });
    const flaky = await courier.enqueueTask('flaky', {}, { retryDelay: 600, maxRetries: 1 });
    await drainUntilIdle(courier);
    expect(await courier.getTask(flaky)).toMatchObject({ status: 'queued', attempts: 1 });
    await clock.advance(600 * 1.25); // the longest first backoff (jitter is at most +25%)
    await drainUntilIdle(courier);
    expect(await courier.getTask(flaky)).toMatchObject({ status: 'succeeded', attempts: 2, result: 'ok' });
    expect(clock.offset).toBe(3600 + 750);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("a clock jump follows each schedule's backfill: the latest tick, plus up to backfill missed ones", async () => {
    const c = await testCourier();
    c.registerTask('hourly_report', (p: { s: string }) => p.s);
    await c.schedule('no-backfill', '0 * * * *', 'hourly_report', { s: 'none' });
    await c.schedule('backfill-3', '0 * * * *', 'hourly_report', { s: 'three' }, { backfill: 3 });
    const clock = createTestClock(c);
    await clock.advance(8 * 86_400); // 192 hourly ticks pass
    await expectEnqueued(c, 'hourly_report', { s: 'none' }).then((t) => expect(t).toHaveLength(1));
    await expectEnqueued(c, 'hourly_report', { s: 'three' }).then((t) => expect(t).toHaveLength(4));
    expect(await drainUntilIdle(c)).toBe(5);
    await clock.advance(10);
    expect(await drainUntilIdle(c)).toBe(0);
    // The schedules go on from the clock's now: the next hour enqueues one tick each.
    await clock.advance(3600);
    expect(await drainUntilIdle(c)).toBe(2);
    await c.close();
  });

  it('drainUntilIdle rescues expired leases and cleans up past retention', async () => {
    const c = await testCourier();
    c.registerTask('t', () => 'done');
    const id = await c.enqueueTask('t', {});
    // A worker claimed it and died: running with a lease.
    await c.pool.query(`UPDATE "${c.schema}".tasks SET status = 'running', attempts = 1, locked_until = now() + interval '30 seconds', lease_token = gen_random_uuid() WHERE id = $1`, [id]);
    const clock = createTestClock(c);
    expect(await drainUntilIdle(c)).toBe(0);
    await clock.advance(31);
    expect(await drainUntilIdle(c)).toBe(1);
    expect(await c.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    await clock.advance(8 * 86_400);
    await drainUntilIdle(c);
    expect(await c.getTask(id)).toBeNull();
    await c.close();
  });
});
