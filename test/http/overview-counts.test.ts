// The overview's counts group every task: on a big table they are read once for
// concurrent requests and reused for ten times as long as reading them took, then
// read again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CourierHttpHandler } from '../../src/http/index.js';
import type { Courier } from '../../src/index.js';
import { waitFor } from '../helpers/db.js';
import { apiCourier, BASE, call } from './helpers.js';

let courier: Courier;
let api: CourierHttpHandler;

async function overview(): Promise<{ countsAt: string; status: { queues: Record<string, { succeeded: number }> } }> {
  const res = await call(api, 'GET', `${BASE}/overview`);
  expect(res.status).toBe(200);
  return res.json() as never;
}

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
  await courier.pool.query(
    `INSERT INTO ${courier.names.tasks} (queue, name, status, finished_at) SELECT 'archive', 'send_welcome', 'succeeded', now() FROM generate_series(1, 200000)`,
  );
});
afterAll(() => courier.close());

describe('overview counts', () => {
  it('are read once for concurrent requests, reused a while, then read again with what changed', async () => {
    const [a, b] = await Promise.all([overview(), overview()]);
    expect(b.countsAt).toBe(a.countsAt);
    expect(a.status.queues.archive?.succeeded).toBe(200_000);
    await courier.pool.query(`INSERT INTO ${courier.names.tasks} (queue, name, status, finished_at) VALUES ('archive', 'send_welcome', 'succeeded', now())`);
    const fresh = await waitFor(
      async () => {
        const o = await overview();
        return o.countsAt !== a.countsAt ? o : null;
      },
      30_000,
      'counts read again',
    );
    expect(Date.parse(fresh.countsAt)).toBeGreaterThan(Date.parse(a.countsAt));
    expect(fresh.status.queues.archive?.succeeded).toBe(200_001);
  });
});
