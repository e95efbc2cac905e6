// Types that carry the contract: `npm run typecheck` checks the @ts-expect-error
// lines and expectTypeOf; the runtime assertions check the same calls on Postgres.
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type Courier, defineTask, type TaskInfo } from '../src/index.js';
import { runTask } from '../src/testing/index.js';
import { testCourier } from './helpers/db.js';

const sendWelcome = defineTask({
  name: 'send_welcome',
  payload: z.object({ userId: z.number() }),
  async handler({ userId }) {
    return { sent: true, userId };
  },
});
const resize = defineTask({ name: 'resize', payload: z.object({ url: z.string(), width: z.number() }), handler: ({ width }) => width * 2 });

let courier: Courier;
beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask(sendWelcome);
  courier.registerTask(resize);
});
afterAll(() => courier.close({ grace: 0 }));

describe('types follow the definitions', () => {
  it('enqueueMany checks each item against its own definition', async () => {
    const ids = await courier.enqueueMany([
      { name: sendWelcome, payload: { userId: 1 } },
      { name: resize, payload: { url: 'a.png', width: 10 } },
      { name: 'send_welcome', payload: { userId: 1 } }, // by name: checked at run time only
    ]);
    expect(ids).toHaveLength(3);
    await courier.enqueueMany([
      { name: sendWelcome, payload: { userId: 2 } },
      // @ts-expect-error: resize's payload has no userId
      { name: resize, payload: { userId: 2 } },
    ]).then(
      () => expect.unreachable(),
      (err: unknown) => expect(err).toMatchObject({ field: 'items.1.payload.url' }),
    );
    // @ts-expect-error: userId must be a number
    await expect(courier.enqueueMany([{ name: sendWelcome, payload: { userId: '3' } }])).rejects.toMatchObject({ field: 'items.0.payload.userId' });
  });

  it('runTask accepts a definition and returns its typed result', async () => {
    const result = await runTask(courier, sendWelcome, { userId: 4 });
    expectTypeOf(result).toEqualTypeOf<{ sent: boolean; userId: number }>();
    expect(result).toEqual({ sent: true, userId: 4 });
    // @ts-expect-error: the payload is checked against the definition
    await expect(runTask(courier, resize, { url: 'a.png' })).rejects.toMatchObject({ field: 'payload.width' });
  });

  it('getTask typed by a definition: result and payload are not unknown', async () => {
    const id = await courier.enqueueTask(resize, { url: 'b.png', width: 21 });
    await courier.runTaskNow(id);
    const info = await courier.getTask(id, resize);
    expectTypeOf(info).toEqualTypeOf<TaskInfo<{ url: string; width: number }, number> | null>();
    expectTypeOf(await courier.getTask(id)).toEqualTypeOf<TaskInfo | null>();
    expect(info?.result).toBe(42);
    expect(info?.payload.width).toBe(21);
    await expect(courier.getTask(id, sendWelcome)).rejects.toMatchObject({ field: 'id', expected: expect.stringContaining('"resize" task') });
  });

  it('a producer-only definition is typed like a full one', async () => {
    const shared = defineTask({ name: 'shared_typed', payload: z.object({ n: z.number() }) });
    courier.registerTask(shared);
    // @ts-expect-error: n must be a number
    await expect(courier.enqueueTask(shared, { n: 'x' })).rejects.toMatchObject({ field: 'payload.n' });
    const c = await testCourier();
    const def = c.registerTask(shared, ({ n }) => n + 1);
    expectTypeOf(def.handler).parameter(0).toEqualTypeOf<{ n: number }>();
    expect(await runTask(c, def, { n: 1 })).toBe(2);
    await c.close();
  });
});
