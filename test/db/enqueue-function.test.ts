// The SQL function <schema>.enqueue(name, payload, options) (migrations 012, 018):
// the same rows, dedup keys, flow rows and wake-ups as enqueueTask, the caller's
// transaction, clear refusals, and the worker's run-time payload check.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sqlNames } from '../../src/db/names.js';
import { type Courier, defineTask } from '../../src/index.js';
import { databaseUrl, testCourier, testPool, waitFor } from '../helpers/db.js';

let courier: Courier;
let pool: pg.Pool;
let s: string;

const sendReceipt = defineTask({ name: 'send_receipt', payload: z.object({ orderId: z.number() }), handler: async ({ orderId }) => ({ sent: orderId }) });

beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask(sendReceipt);
  pool = testPool();
  s = `"${courier.schema}"`;
});
afterAll(async () => {
  await courier.close({ grace: 0 });
  await pool.end();
});

const enqueue = async (name: unknown, payload?: unknown, options?: unknown): Promise<string> => {
  const { rows } = await pool.query(`SELECT ${s}.enqueue($1, $2::jsonb, $3::jsonb) AS id`, [name, payload === undefined ? null : JSON.stringify(payload), options === undefined ? null : JSON.stringify(options)]);
  return rows[0].id;
};
const row = async (id: string) => (await pool.query(`SELECT * FROM ${s}.tasks WHERE id = $1`, [id])).rows[0];
const count = async () => Number((await pool.query(`SELECT count(*) AS n FROM ${s}.tasks`)).rows[0].n);

describe('enqueue() in SQL', () => {
  it('inserts a task with the table defaults; a worker runs it', async () => {
    const id = await enqueue('send_receipt', { orderId: 1 });
    expect(id).toMatch(/^\d+$/);
    expect(await courier.getTask(id)).toMatchObject({ name: 'send_receipt', queue: 'default', priority: 5, maxRetries: 3, status: 'queued', payload: { orderId: 1 } });
    expect(await row(id)).toMatchObject({ retry_delay: 60, timeout: null, backoff: null, max_delay: null, key: null });
    await courier.drain();
    expect(await courier.getTask(id)).toMatchObject({ status: 'succeeded', result: { sent: 1 } });
  });

  it('writes the same row as enqueueTask for every option', async () => {
    const runAt = new Date(Date.now() + 86_400_000);
    const options = { queue: 'receipts', priority: 2, maxRetries: 7, retryDelay: 1.5, timeout: 30, backoff: 'linear', maxDelay: 600, runAt: runAt.toISOString(), key: 'opts-sql' } as const;
    const fromSql = await enqueue('send_receipt', { orderId: 2 }, options);
    const fromJs = await courier.enqueueTask(sendReceipt, { orderId: 2 }, { ...options, key: 'opts-js' });
    const strip = (r: Record<string, unknown>) => ({ ...r, id: 0, key: 0, created_at: 0, updated_at: 0 });
    expect(strip(await row(fromSql))).toEqual(strip(await row(fromJs)));
    expect((await row(fromSql)).run_at.getTime()).toBe(runAt.getTime());
    // Epoch milliseconds and delay.
    const byMs = await enqueue('send_receipt', { orderId: 3 }, { runAt: runAt.getTime() });
    expect((await row(byMs)).run_at.getTime()).toBe(runAt.getTime());
    // created_at is the enqueueing transaction's now(), which delay counts from.
    const { rows } = await pool.query(`SELECT extract(epoch FROM run_at - created_at)::float8 AS wait FROM ${s}.tasks WHERE id = $1`, [await enqueue('send_receipt', { orderId: 4 }, { delay: 90 })]);
    expect(rows[0].wait).toBe(90);
    // A JSON null counts as absent.
    expect(await courier.getTask(await enqueue('send_receipt', { orderId: 5 }, { key: null, queue: null }))).toMatchObject({ queue: 'default' });
    for (const id of [fromSql, fromJs, byMs]) await courier.cancel(id);
  });

  it('refuses unknown option names and bad values, naming the option, and writes nothing', async () => {
    const before = await count();
    const cases: Array<[unknown, unknown, RegExp]> = [
      ['send_receipt', { prio: 1 }, /unknown option "prio" \(accepted: queue, priority, maxRetries/],
      ['send_receipt', { max_retries: 1 }, /unknown option "max_retries"/],
      ['send_receipt', { priority: 11 }, /option "priority" must be an integer from 1/],
      ['send_receipt', { priority: 1.5 }, /option "priority"/],
      ['send_receipt', { priority: '1' }, /option "priority"/],
      ['send_receipt', { maxRetries: -1 }, /option "maxRetries"/],
      ['send_receipt', { queue: 'has space' }, /option "queue"/],
      ['send_receipt', { backoff: 'cubic' }, /option "backoff"/],
      ['send_receipt', { timeout: 0 }, /option "timeout"/],
      ['send_receipt', { runAt: 1_700_000_000 }, /option "runAt" .*looks like epoch seconds/],
      ['send_receipt', { runAt: '2030-01-01 10:00' }, /option "runAt" must be an ISO-8601 time with an offset/],
      ['send_receipt', { runAt: '2030-02-30T10:00:00Z' }, /option "runAt" is not a valid date/],
      ['send_receipt', { runAt: '2030-01-01T00:00:00Z', delay: 5 }, /option "delay" must not be given together with runAt/],
      ['send_receipt', { keyMode: 'replace' }, /option "keyMode" must be given only together with key/],
      ['send_receipt', { key: 'k', keyMode: 'merge' }, /option "keyMode" must be "keep" or "replace"/],
      ['send_receipt', { key: '' }, /option "key" must be a string of 1-512 characters/],
      ['send_receipt', [1], /"options" must be a JSON object \(got array\)/],
      ['', {}, /"name" must be 1-128 characters/],
      [null, {}, /"name" must be 1-128 characters .*got NULL/],
    ];
    for (const [name, options, message] of cases) {
      const err = await enqueue(name, { orderId: 1 }, options).catch((e: unknown) => e);
      expect(err, JSON.stringify(options)).toMatchObject({ code: '22023', message: expect.stringMatching(message) });
    }
    expect(await count()).toBe(before);
  });

  it('shares dedup keys with enqueueTask: keep returns the live task, replace overwrites a queued one', async () => {
    const fromJs = await courier.enqueueTask(sendReceipt, { orderId: 10 }, { key: 'order-10', delay: 3600 });
    expect(await enqueue('send_receipt', { orderId: 11 }, { key: 'order-10' })).toBe(fromJs);
    expect((await courier.getTask(fromJs))?.payload).toEqual({ orderId: 10 });
    expect(await enqueue('send_receipt', { orderId: 12 }, { key: 'order-10', keyMode: 'replace', priority: 1 })).toBe(fromJs);
    expect(await courier.getTask(fromJs)).toMatchObject({ payload: { orderId: 12 }, priority: 1 });
    // Replacing made it due now; once it has finished the key is free again.
    await courier.drain();
    const next = await enqueue('send_receipt', { orderId: 13 }, { key: 'order-10' });
    expect(next).not.toBe(fromJs);
    expect(await courier.enqueueTask(sendReceipt, { orderId: 14 }, { key: 'order-10' })).toBe(next);
    await courier.cancel(next);
  });

  it('replace leaves a running task alone and returns its id, as enqueueTask does', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    courier.registerTask(defineTask({ name: 'hold', handler: () => gate }));
    const id = await enqueue('hold', { v: 1 }, { key: 'held' });
    const running = courier.runOnce({ limit: 1 });
    await waitFor(async () => (await courier.getTask(id))?.status === 'running', 5000, 'the task to run');
    expect(await enqueue('hold', { v: 2 }, { key: 'held', keyMode: 'replace' })).toBe(id);
    expect(await courier.enqueueTask('hold', { v: 3 }, { key: 'held', keyMode: 'replace' })).toBe(id);
    expect((await courier.getTask(id))?.payload).toEqual({ v: 1 });
    release();
    await running;
    expect((await courier.getTask(id))?.status).toBe('succeeded');
  });

  it('a task enqueued in a transaction exists, and wakes workers, only once it commits', async () => {
    const channel = sqlNames(courier.schema).channel;
    const listener = new pg.Client({ connectionString: databaseUrl() });
    await listener.connect();
    const seen: string[] = [];
    listener.on('notification', (m) => seen.push(m.payload ?? ''));
    await listener.query(`LISTEN "${channel}"`);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(`SELECT ${s}.enqueue('send_receipt', '{"orderId": 20}') AS due, ${s}.enqueue('send_receipt', '{"orderId": 21}', '{"queue": "later", "delay": 600}') AS later`);
      await client.query('ROLLBACK');
      expect(await courier.getTask(rows[0].due)).toBeNull();
      expect(await courier.getTask(rows[0].later)).toBeNull();

      await client.query('BEGIN');
      const { rows: kept } = await client.query(`SELECT ${s}.enqueue('send_receipt', '{"orderId": 22}') AS due, ${s}.enqueue('send_receipt', '{"orderId": 23}', '{"queue": "later", "delay": 600}') AS later`);
      // A NOTIFY committed elsewhere arrives; none of ours has (notifications arrive in commit order).
      await pool.query('SELECT pg_notify($1, $2)', [channel, 'probe']);
      await waitFor(() => seen.includes('probe'), 5000, 'the probe');
      expect(seen).toEqual(['probe']);
      await client.query('COMMIT');
      await waitFor(() => seen.length === 3, 5000, 'the two wake-ups');
      const dueAt = (await courier.getTask(kept[0].later))?.runAt.getTime();
      expect(seen.slice(1).sort()).toEqual(['default', `later ${dueAt}`]);
      await courier.cancel(kept[0].due);
      await courier.cancel(kept[0].later);
    } finally {
      client.release();
      await listener.end();
    }
  });

  it('a payload that does not match the definition fails at its first attempt, without retries', async () => {
    const id = await enqueue('send_receipt', { orderId: 'not a number' }, { maxRetries: 5 });
    await courier.drain();
    const task = await courier.getTask(id);
    expect(task).toMatchObject({ status: 'failed', attempts: 1, maxRetries: 5 });
    expect(task?.lastError).toMatch(/payload no longer matches the task's schema at "payload\.orderId"/);
  });
});

describe('enqueue() in SQL: flow options', () => {
  let c: Courier;
  let cs: string;
  const runs: Array<{ group: string | null; seq: string | null; pos: number; start: number; end: number }> = [];
  const sqlEnqueue = async (db: pg.Pool | pg.PoolClient, name: string, payload: unknown, options: unknown): Promise<string> =>
    (await db.query(`SELECT ${cs}.enqueue($1, $2::jsonb, $3::jsonb) AS id`, [name, JSON.stringify(payload), JSON.stringify(options)])).rows[0].id;
  const flowRows = async () => (await pool.query(`SELECT queue, kind, key, tier FROM ${cs}.task_flows ORDER BY queue, kind, key`)).rows;
  const strip = (r: Record<string, unknown>) => ({ ...r, id: 0, payload: 0, created_at: 0, updated_at: 0, run_at: 0 });
  const rowOf = async (id: string) => (await pool.query(`SELECT * FROM ${cs}.tasks WHERE id = $1`, [id])).rows[0];

  beforeAll(async () => {
    c = await testCourier();
    cs = `"${c.schema}"`;
    c.registerTask('flowed', async (p: { group?: string; seq?: string; pos: number }) => {
      const run = { group: p.group ?? null, seq: p.seq ?? null, pos: p.pos, start: performance.now(), end: Number.POSITIVE_INFINITY };
      runs.push(run);
      // Long enough for the claims of a 10-slot worker to overlap.
      await new Promise((r) => setTimeout(r, 80));
      run.end = performance.now();
    });
  });
  afterAll(() => c.close({ grace: 0 }));

  /** Most runs matching `pick` that were in progress at once. */
  const peak = (pick: (r: (typeof runs)[number]) => boolean) => {
    const mine = runs.filter(pick);
    return Math.max(0, ...mine.map((a) => mine.filter((b) => b.start <= a.start && b.end > a.start).length));
  };

  it('writes the same task and task_flows rows as enqueueTask for group, groupTier and sequence', async () => {
    const fromSql = await sqlEnqueue(pool, 'flowed', { pos: 0 }, { queue: 'rows', group: 'acme', groupTier: 'gold', priority: 2 });
    const fromJs = await c.enqueueTask('flowed', { pos: 0 }, { queue: 'rows', group: 'acme', groupTier: 'gold', priority: 2 });
    expect(strip(await rowOf(fromSql))).toEqual(strip(await rowOf(fromJs)));
    expect(await rowOf(fromSql)).toMatchObject({ group_key: 'acme', group_tier: 'gold', sequence_key: null });
    // The latest enqueue sets the group's tier, as enqueueTask does.
    await sqlEnqueue(pool, 'flowed', { pos: 1 }, { queue: 'rows', group: 'acme' });
    const seqSql = await sqlEnqueue(pool, 'flowed', { pos: 2 }, { queue: 'rows', sequence: 'k1', key: 'seq-sql' });
    const seqJs = await c.enqueueTask('flowed', { pos: 2 }, { queue: 'rows', sequence: 'k1', key: 'seq-js' });
    expect({ ...strip(await rowOf(seqSql)), key: 0 }).toEqual({ ...strip(await rowOf(seqJs)), key: 0 });
    expect(await rowOf(seqSql)).toMatchObject({ sequence_key: 'k1', group_key: null, key: 'seq-sql' });
    // A key keeps its meaning on a flow row: the live task's id comes back.
    expect(await sqlEnqueue(pool, 'flowed', { pos: 3 }, { queue: 'rows', sequence: 'k1', key: 'seq-sql' })).toBe(seqSql);
    expect(await flowRows()).toEqual([
      { queue: 'rows', kind: 'group', key: 'acme', tier: null },
      { queue: 'rows', kind: 'sequence', key: 'k1', tier: null },
    ]);
    await pool.query(`DELETE FROM ${cs}.tasks WHERE queue = 'rows'`);
  });

  it("a grouped task enqueued by SQL obeys the queue's groupConcurrency; a sequence runs in enqueue order (a running worker learns of them at commit)", async () => {
    await c.configureQueue('sqlgroups', { groupConcurrency: 2 });
    await c.start({ concurrency: 10, queues: ['sqlgroups', 'sqlseq'], pollInterval: 0.1 });
    const client = await pool.connect();
    let ids: string[] = [];
    try {
      await client.query('BEGIN');
      for (let pos = 0; pos < 6; pos++) {
        for (const group of ['a', 'b']) ids.push(await sqlEnqueue(client, 'flowed', { group, pos }, { queue: 'sqlgroups', group }));
        // Later tasks have a higher priority: a sequence still runs in enqueue order.
        ids.push(await sqlEnqueue(client, 'flowed', { seq: 's', pos }, { queue: 'sqlseq', sequence: 's', priority: 10 - pos }));
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor(async () => {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${cs}.tasks WHERE id = ANY($1::bigint[]) AND status = 'succeeded'`, [ids]);
      return rows[0].n === ids.length;
    }, 20_000, 'every task enqueued by SQL to succeed');
    await c.stop({ grace: 5 });
    expect(peak((r) => r.group === 'a')).toBe(2);
    expect(peak((r) => r.group === 'b')).toBe(2);
    const seq = runs.filter((r) => r.seq === 's');
    expect(seq.map((r) => r.pos)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak((r) => r.seq === 's')).toBe(1);
    ids = [];
  }, 30_000);

  it('keyWindow, throttle and debounce share their keys with enqueueTask', async () => {
    const client = await pool.connect();
    try {
      // One transaction: one now(), so every call falls in the same window.
      await client.query('BEGIN');
      const first = await sqlEnqueue(client, 'flowed', { pos: 1 }, { queue: 'dedup', key: 'report', keyWindow: 3600 });
      expect(await sqlEnqueue(client, 'flowed', { pos: 2 }, { queue: 'dedup', key: 'report', keyWindow: 3600 })).toBe(first);
      expect(await c.enqueueTask('flowed', { pos: 3 }, { queue: 'dedup', key: 'report', keyWindow: 3600, tx: client })).toBe(first);
      const other = await sqlEnqueue(client, 'flowed', { pos: 4 }, { queue: 'dedup', key: 'other', keyWindow: 3600 });
      expect(other).not.toBe(first);
      const fromJs = await c.enqueueTask('flowed', { pos: 4 }, { queue: 'dedup', key: 'js', keyWindow: 3600, tx: client });
      const wrow = async (id: string) => (await client.query(`SELECT * FROM ${cs}.tasks WHERE id = $1`, [id])).rows[0];
      expect((await wrow(first)).payload).toEqual({ pos: 1 });
      expect({ ...strip(await wrow(other)), window_key: 0 }).toEqual({ ...strip(await wrow(fromJs)), window_key: 0 });
      expect(await wrow(other)).toMatchObject({ key: null, window_key: 'other' });

      const throttled = await sqlEnqueue(client, 'flowed', { pos: 5 }, { queue: 'dedup', throttle: { key: 't', seconds: 600 } });
      expect(await c.enqueueTask('flowed', { pos: 6 }, { queue: 'dedup', throttle: { key: 't', seconds: 600 }, tx: client })).toBe(throttled);
      expect(await sqlEnqueue(client, 'flowed', { pos: 7 }, { queue: 'dedup', throttle: { key: 't', seconds: 600 } })).toBe(throttled);

      const debounced = await sqlEnqueue(client, 'flowed', { pos: 8 }, { queue: 'dedup', debounce: { key: 'd', seconds: 30 } });
      const firstRun = (await wrow(debounced)).run_at.getTime();
      expect(await c.enqueueTask('flowed', { pos: 9 }, { queue: 'dedup', debounce: { key: 'd', seconds: 60 }, tx: client })).toBe(debounced);
      expect(await sqlEnqueue(client, 'flowed', { pos: 10 }, { queue: 'dedup', debounce: { key: 'd', seconds: 120, mode: 'extend' } })).toBe(debounced);
      expect(await wrow(debounced)).toMatchObject({ payload: { pos: 10 }, debounce_key: 'd' });
      expect((await wrow(debounced)).run_at.getTime()).toBe(firstRun + 90_000);
      expect(await sqlEnqueue(client, 'flowed', { pos: 11 }, { queue: 'dedup', debounce: { key: 'd', seconds: 5, mode: 'replace' } })).toBe(debounced);
      expect((await wrow(debounced)).run_at.getTime()).toBe(firstRun + 90_000);
      expect((await wrow(debounced)).payload).toEqual({ pos: 11 });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('refuses unsupported and unclear options with 22023 naming the option, and writes nothing', async () => {
    const before = Number((await pool.query(`SELECT count(*) AS n FROM ${cs}.tasks`)).rows[0].n);
    const flowsBefore = await flowRows();
    const cases: Array<[unknown, RegExp]> = [
      [{ dependsOn: ['1'] }, /option "dependsOn" is not supported in SQL; enqueue tasks with parents from the library/],
      [{ tx: true }, /unknown option "tx" \(accepted: .*group, groupTier, sequence, debounce, throttle, keyWindow\)/],
      [{ groupKey: 'a' }, /unknown option "groupKey"/],
      [{ group: 'a', sequence: 's' }, /option "sequence" must not be given together with group/],
      [{ groupTier: 'gold' }, /option "groupTier" must be given only together with group/],
      [{ group: '' }, /option "group" must be a string of 1-200 characters/],
      [{ group: 'x'.repeat(201) }, /option "group" must be a string of 1-200 characters/],
      [{ group: 7 }, /option "group"/],
      [{ sequence: ['s'] }, /option "sequence" must be a string/],
      [{ keyWindow: 60 }, /option "keyWindow" must be given only together with key/],
      [{ key: 'k', keyWindow: 0 }, /option "keyWindow" must be a number of seconds > 0/],
      [{ key: 'k', keyWindow: 86_401 }, /option "keyWindow" must be a number of seconds > 0, at most a day/],
      [{ key: 'k', keyWindow: 60, keyMode: 'replace' }, /option "keyMode" must not be given together with keyWindow/],
      [{ debounce: { key: 'd', seconds: 5 }, key: 'k' }, /option "key" must not be given together with debounce/],
      [{ debounce: { key: 'd', seconds: 5 }, delay: 5 }, /option "delay" must not be given together with debounce/],
      [{ debounce: { key: 'd', seconds: 5, extra: 1 } }, /option "debounce" must be \{"key": string, "seconds": number/],
      [{ debounce: { key: 'd' } }, /option "debounce.seconds"/],
      [{ debounce: { key: 'd', seconds: 5, mode: 'later' } }, /option "debounce.mode" must be "replace" or "extend"/],
      [{ throttle: { key: 't', seconds: 5 }, key: 'k' }, /option "throttle" must not be given together with key or keyWindow/],
      [{ throttle: { key: '', seconds: 5 } }, /option "throttle.key"/],
      [{ throttle: 'often' }, /option "throttle" must be \{"key": string, "seconds": number\}/],
    ];
    for (const [options, message] of cases) {
      const err = await sqlEnqueue(pool, 'flowed', { pos: 0 }, options).catch((e: unknown) => e);
      expect(err, JSON.stringify(options)).toMatchObject({ code: '22023', message: expect.stringMatching(message) });
    }
    expect(Number((await pool.query(`SELECT count(*) AS n FROM ${cs}.tasks`)).rows[0].n)).toBe(before);
    expect(await flowRows()).toEqual(flowsBefore);
  });
});
