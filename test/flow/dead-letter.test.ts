import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlNames } from '../../src/db/names.js';
import { createHttpHandler } from '../../src/http/index.js';
import { type Courier, createCourier, PermanentError } from '../../src/index.js';
import { rescueExpiredLeases } from '../../src/maintenance/rescue.js';
import { runCli } from '../helpers/cli.js';
import { databaseUrl, freshSchema } from '../helpers/db.js';

let courier: Courier;
const healthy = { now: false };

beforeAll(async () => {
  courier = createCourier({ connectionString: databaseUrl(), schema: freshSchema('dlq') });
  await courier.migrate();
  courier.registerTask(
    'flaky_send',
    (p: { to: string }) => {
      if (!healthy.now) throw new Error(`provider down for ${p.to}`);
      return { sent: p.to };
    },
    { maxRetries: 1, retryDelay: 0, backoff: 'fixed' },
  );
  courier.registerTask(
    'bad_input',
    () => {
      throw new PermanentError('bad input');
    },
    { maxRetries: 3 },
  );
  await courier.configureQueue('email', { deadLetter: 'email.dead' });
});

afterAll(async () => {
  await courier.close({ grace: 0 });
});

const deadFrom = async (id: string) =>
  (await courier.pool.query<{ dead_from: string | null }>(`SELECT dead_from FROM "${courier.schema}".tasks WHERE id = $1`, [id])).rows[0]?.dead_from;

describe('dead-letter queues', () => {
  it('a task that exhausts its retries moves to the dead-letter queue, still failed, attempts and errors kept', async () => {
    healthy.now = false;
    const id = await courier.enqueueTask('flaky_send', { to: 'a@x' }, { queue: 'email' });
    const elsewhere = await courier.enqueueTask('flaky_send', { to: 'b@x' }, { queue: 'other' });
    await courier.drain();
    const t = await courier.getTask(id);
    expect(t).toMatchObject({ queue: 'email.dead', status: 'failed', attempts: 2, lastError: 'Error: provider down for a@x' });
    expect(t?.errors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(await deadFrom(id)).toBe('email');
    // A queue without deadLetter keeps its failed tasks.
    expect(await courier.getTask(elsewhere)).toMatchObject({ queue: 'other', status: 'failed' });
    expect(await deadFrom(elsewhere)).toBeNull();
    // Permanent failures are dead-lettered too; cancelled tasks are not.
    const bad = await courier.enqueueTask('bad_input', {}, { queue: 'email' });
    const cancelled = await courier.enqueueTask('bad_input', {}, { queue: 'email', delay: 60 });
    await courier.cancel(cancelled);
    await courier.drain();
    expect(await courier.getTask(bad)).toMatchObject({ queue: 'email.dead', status: 'failed', attempts: 1 });
    expect(await courier.getTask(cancelled)).toMatchObject({ queue: 'email', status: 'cancelled' });
  });

  it('lease rescue dead-letters a task with no retries left, in the rescue statement', async () => {
    const id = await courier.enqueueTask('flaky_send', { to: 'c@x' }, { queue: 'email', maxRetries: 0 });
    // A worker claimed it and vanished: running, lease expired.
    await courier.pool.query(
      `UPDATE "${courier.schema}".tasks SET status = 'running', attempts = 1, lease_token = gen_random_uuid(), locked_by = 'gone', locked_until = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
    const rescued = await rescueExpiredLeases(courier.pool, sqlNames(courier.schema));
    expect(rescued.map((r) => [r.id, r.status])).toEqual([[id, 'failed']]);
    expect(await courier.getTask(id)).toMatchObject({ queue: 'email.dead', status: 'failed', attempts: 1 });
    expect(await deadFrom(id)).toBe('email');
    expect(await courier.redrive({ id })).toBe(1);
    await courier.cancel(id);
  });

  it('redrive moves one, a filter or all back to their queue, attempts reset, errors kept; they run again', async () => {
    healthy.now = false;
    const ids = await courier.enqueueMany([1, 2, 3].map((n) => ({ name: 'flaky_send', payload: { to: `r${n}@x` }, options: { queue: 'email' } })));
    await courier.drain();
    expect((await Promise.all(ids.map((id) => courier.getTask(id)))).map((t) => t?.queue)).toEqual(['email.dead', 'email.dead', 'email.dead']);
    healthy.now = true;
    expect(await courier.redrive({ id: ids[0] as string })).toBe(1);
    const back = await courier.getTask(ids[0] as string);
    expect(back).toMatchObject({ queue: 'email', status: 'queued', attempts: 0 });
    expect(back?.errors).toHaveLength(2);
    expect(await deadFrom(ids[0] as string)).toBeNull();
    expect(await courier.redrive({ queue: 'nowhere' })).toBe(0);
    expect(await courier.redrive({ deadLetter: 'email.dead', name: 'flaky_send' })).toBeGreaterThanOrEqual(3);
    await courier.drain();
    for (const id of ids) expect(await courier.getTask(id)).toMatchObject({ queue: 'email', status: 'succeeded' });
    await expect(courier.redrive({ id: 'x' } as never)).rejects.toThrow(/redrive.*id.*task id/);
    await expect(courier.redrive({ limit: 0 })).rejects.toThrow(/limit/);
  });

  it('redrive from the CLI and over HTTP', async () => {
    healthy.now = false;
    const [a, b] = await courier.enqueueMany([1, 2].map((n) => ({ name: 'flaky_send', payload: { to: `h${n}@x` }, options: { queue: 'email' } })));
    await courier.drain();
    const cli = runCli(courier.schema, ['redrive', '--id', a as string]);
    expect(cli.stderr).toBe('');
    expect(cli.stdout.trim()).toBe('moved 1 task back to their queue');
    expect(cli.code).toBe(0);
    expect((await courier.getTask(a as string))?.queue).toBe('email');
    const api = createHttpHandler(courier, { auth: { token: 'flow-test-token-0123456789' } });
    const res = await api(new Request('http://courier.test/redrive', { method: 'POST', headers: { authorization: 'Bearer flow-test-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ deadLetter: 'email.dead', name: 'flaky_send' }) }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ moved: 1 });
    expect((await courier.getTask(b as string))?.queue).toBe('email');
    const bad = await api(new Request('http://courier.test/redrive', { method: 'POST', headers: { authorization: 'Bearer flow-test-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ ids: 'all' }) }));
    expect(bad.status).toBe(400);
  });

  it('configureQueue refuses a queue as its own dead-letter queue', async () => {
    await expect(courier.configureQueue('email', { deadLetter: 'email' })).rejects.toThrow(/deadLetter.*another queue/);
    expect((await courier.listQueues()).find((q) => q.name === 'email')).toMatchObject({ deadLetter: 'email.dead' });
  });
});
