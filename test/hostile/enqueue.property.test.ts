// Hostile input at the enqueue boundary: every rejection is a ValidationError naming
// the field, and a rejected call writes nothing (rows counted before and after).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Courier, defineTask, ValidationError } from '../../src/index.js';
import { testCourier } from '../helpers/db.js';
import { hostilePayload, hostileString, loneSurrogate, nest, wrongType } from './arbitraries.js';

let courier: Courier;
const QUEUE_RULE = /^[A-Za-z0-9_.:-]{1,128}$/;

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('h', () => {});
  courier.registerTask(defineTask({ name: 'typed', payload: z.object({ n: z.number() }), handler: () => {} }));
});
afterAll(() => courier.close({ grace: 0 }));

const rows = async () => Number((await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks`)).rows[0].n);

/** Runs `call`, which must throw a ValidationError for `field` and write nothing. */
async function rejects(call: () => Promise<unknown>, field: string | RegExp): Promise<void> {
  const before = await rows();
  const err = await call().then(
    () => new Error('accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  if (typeof field === 'string') expect(v.field).toBe(field);
  else expect(v.field).toMatch(field);
  expect(v.message).toContain(`"${v.field}"`);
  expect(await rows()).toBe(before);
}

// Values each option must refuse, with the field the error must name.
const badOption = fc.oneof(
  fc.tuple(fc.constant('priority'), fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 11 }), fc.double({ min: 1.01, max: 9.99 }).filter((d) => !Number.isInteger(d)), wrongType)),
  fc.tuple(fc.constant('maxRetries'), fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 1001 }), fc.double({ min: 0.01, max: 0.99 }), wrongType)),
  fc.tuple(fc.constant('retryDelay'), fc.oneof(fc.double({ max: -0.001, noNaN: true }), wrongType.filter((v) => typeof v !== 'number' || !Number.isFinite(v)))),
  fc.tuple(fc.constant('timeout'), fc.oneof(fc.constant(0), fc.double({ max: -0.001, noNaN: true }), wrongType.filter((v) => typeof v !== 'number' || !Number.isFinite(v)))),
  fc.tuple(fc.constant('runAt'), fc.oneof(hostileString(30), fc.double({ min: 8.64e15 + 1, noNaN: true }), fc.constant(new Date(Number.NaN)), wrongType.filter((v) => typeof v !== 'number' || !Number.isFinite(v)))),
  fc.tuple(fc.constant('key'), fc.oneof(fc.constant(''), fc.string({ minLength: 513, maxLength: 600 }), wrongType.filter((v) => typeof v !== 'string'))),
  fc.tuple(fc.constant('keyMode'), fc.oneof(hostileString(10).filter((s) => s !== 'keep' && s !== 'replace'), wrongType)),
  fc.tuple(
    fc.constant('queue'),
    // A random string can happen to be a valid queue name ("_"): keep only invalid ones.
    fc.oneof(hostileString(40).filter((s) => !QUEUE_RULE.test(s)), fc.string({ minLength: 129, maxLength: 140 }), wrongType.filter((v) => typeof v !== 'string' || !QUEUE_RULE.test(v))),
  ),
);

describe('hostile enqueue input (property)', () => {
  it('a wrong type or out-of-range value in any option is a ValidationError naming that option; nothing is written', async () => {
    await fc.assert(
      fc.asyncProperty(badOption, fc.boolean(), async ([field, value], many) => {
        const options = { [field]: value };
        if (many) await rejects(() => courier.enqueueMany([{ name: 'h', payload: {} }, { name: 'h', payload: {}, options }]), `items.1.options.${field}`);
        else await rejects(() => courier.enqueueTask('h', {}, options), field);
      }),
      { numRuns: 300 },
    );
  });

  it('unknown option names, however spelled, are rejected by name', async () => {
    const known = new Set(['queue', 'priority', 'maxRetries', 'retryDelay', 'timeout', 'runAt', 'key', 'keyMode', 'tx']);
    await fc.assert(
      fc.asyncProperty(hostileString(20).filter((k) => !known.has(k) && k !== '__proto__'), async (name) => {
        await rejects(() => courier.enqueueTask('h', {}, { [name]: 1 } as never), name);
      }),
      { numRuns: 100 },
    );
  });

  it('queue names: those matching the rule are stored verbatim, all others rejected (SQL metacharacters included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileString(40), fc.stringMatching(QUEUE_RULE)), async (queue) => {
        if (!QUEUE_RULE.test(queue)) {
          await rejects(() => courier.enqueueTask('h', {}, { queue }), 'queue');
          await rejects(() => courier.listTasks({ queue }), 'queue');
          await rejects(() => courier.start({ queues: [queue] }), 'queues.0');
          return;
        }
        const id = await courier.enqueueTask('h', {}, { queue });
        expect((await courier.getTask(id))?.queue).toBe(queue);
        expect((await courier.listTasks({ queue })).tasks.map((t) => t.id)).toContain(id);
      }),
      { numRuns: 150 },
    );
  });

  it('task names with SQL metacharacters: never registered, never enqueued', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString(40).filter((s) => !QUEUE_RULE.test(s)), async (name) => {
        expect(() => courier.registerTask(name, () => {})).toThrow(ValidationError);
        await rejects(() => courier.enqueueTask(name, {}), 'name');
        await rejects(() => courier.enqueueMany([{ name: 'h' }, { name }]), /name/);
      }),
      { numRuns: 100 },
    );
  });

  it('wrong top-level types (name, items, payload against its schema) are ValidationErrors naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(wrongType.filter((v) => v !== 'h' && v !== 'typed'), async (value) => {
        await rejects(() => courier.enqueueTask(value as never, {}), 'name');
        if (!Array.isArray(value)) await rejects(() => courier.enqueueMany(value as never), 'items');
        await rejects(() => courier.enqueueTask('typed', { n: value }), 'payload.n');
      }),
      { numRuns: 100 },
    );
  });

  it('payloads with hostile strings round-trip exactly, or are refused as "payload" (NUL) with nothing written', async () => {
    await fc.assert(
      fc.asyncProperty(hostilePayload, async (payload) => {
        const json = JSON.stringify(payload);
        if (json.includes('\\u0000')) return rejects(() => courier.enqueueTask('h', payload), 'payload');
        const id = await courier.enqueueTask('h', payload);
        expect((await courier.getTask(id))?.payload).toEqual(JSON.parse(json));
      }),
      { numRuns: 300 },
    );
  });

  it('huge, deeply nested and non-JSON payloads are refused as "payload" with nothing written', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const cases: unknown[] = [
      { s: 'x'.repeat(1024 * 1024 + 1) },
      ['y'.repeat(600_000), 'y'.repeat(600_000)],
      nest(100_000),
      nest(100_000, 1, true),
      circular,
      { n: 10n },
      () => 1,
      Symbol('s'),
      { toJSON() {
          throw new Error('toJSON exploded');
        } },
      { s: 'a\u0000b' },
      { 'k\u0000': 1 },
    ];
    for (const payload of cases) await rejects(() => courier.enqueueTask('h', payload), 'payload');
    await rejects(() => courier.enqueueMany([{ name: 'h', payload: {} }, { name: 'h', payload: nest(100_000) }]), 'items.1.payload');
  });

  it('a batch with one bad item anywhere writes none of its items', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.nat(), badOption, async (n, at, [field, value]) => {
        const items: Array<{ name: string; payload: unknown; options?: Record<string, unknown> }> = Array.from({ length: n }, (_, i) => ({ name: 'h', payload: { i } }));
        const i = at % (n + 1);
        items.splice(i, 0, { name: 'h', payload: {}, options: { [field]: value } });
        await rejects(() => courier.enqueueMany(items as never), new RegExp(`^items\\.${i}\\.`));
      }),
      { numRuns: 100 },
    );
  });

  // ---- Bugs this suite found, now fixed in src/ (kept as regression tests). ----

  // src/manager.ts serializePayload: JSON.stringify escapes a lone surrogate as \udXXX,
  // which Postgres jsonb rejects ("invalid input syntax for type json"): a raw pg error.
  it('a payload with a lone UTF-16 surrogate is a ValidationError naming "payload"', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString(10), loneSurrogate, hostileString(10), async (a, s, b) => {
        await rejects(() => courier.enqueueTask('h', { text: a + s + b }), 'payload');
      }),
      { numRuns: 20 },
    );
  });

  // src/manager.ts serializePayload: `json.includes('\\u0000')` also matches the text
  // backslash-u-0-0-0-0 (JSON "\\u0000"), which is no NUL at all.
  it('a payload containing the text "\\u0000" (backslash, no NUL) is accepted and round-trips', async () => {
    const id = await courier.enqueueTask('h', { path: 'C:\\u0000\\dir' });
    expect((await courier.getTask(id))?.payload).toEqual({ path: 'C:\\u0000\\dir' });
  });

  // src/config.ts enqueueOptionsSchema.key: a NUL passes zod; Postgres text refuses it.
  it('a dedup key with NUL is a ValidationError naming "key"', async () => {
    await rejects(() => courier.enqueueTask('h', {}, { key: 'a\u0000b' }), 'key');
  });

  // src/config.ts enqueueOptionsSchema.runAt: JS dates reach 271821 BC; timestamptz starts at 4713 BC.
  it('a runAt outside the range Postgres can store is a ValidationError naming "runAt"', async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: -8.64e15, max: -2.2e14, noNaN: true }), async (ms) => {
        await rejects(() => courier.enqueueTask('h', {}, { runAt: ms }), 'runAt');
      }),
      { numRuns: 20 },
    );
  });

  // src/config.ts: options that are not an object report the field "value".
  it('options that are not an object are rejected naming "options"', async () => {
    await rejects(() => courier.enqueueTask('h', {}, 'priority=1' as never), 'options');
  });

  // src/config.ts (timeout) + src/worker/execute.ts: setTimeout() takes at most 2^31-1 ms
  // (24.8 days); a longer `timeout` is accepted, then Node fires it after 1 ms.
  it('a task with a 30-day timeout is not timed out at once', async () => {
    courier.registerTask('brief', async () => {
      await new Promise((r) => setTimeout(r, 30));
      return 'done';
    });
    const id = await courier.enqueueTask('brief', {}, { timeout: 30 * 86_400, maxRetries: 0 });
    await courier.runTaskNow(id); // this task, not whatever else earlier cases left queued
    expect(await courier.getTask(id)).toMatchObject({ status: 'succeeded', result: 'done' });
  });

  // src/config.ts startOptionsSchema: pollInterval and lease above 24.8 days overflow
  // setInterval(), which then fires every millisecond (a poll or heartbeat loop on the database).
  it('start() refuses, or honours, a pollInterval and lease longer than 24.8 days', async () => {
    const other = await testCourier();
    other.registerTask('x', () => {});
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const started = await other.start({ pollInterval: 30 * 86_400, lease: 30 * 86_400, cleanup: false, schedules: false }).then(
        () => true,
        (e: unknown) => {
          expect(e).toBeInstanceOf(ValidationError);
          return false;
        },
      );
      if (started) {
        await new Promise((r) => setTimeout(r, 200));
        expect(warnings).not.toContain('TimeoutOverflowWarning');
      }
    } finally {
      process.off('warning', onWarning);
      await other.close({ grace: 0 });
    }
  });
});
