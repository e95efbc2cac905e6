import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CourierHttpHandler } from '../../src/http/index.js';
import { workflowSchema } from '../../src/http/routes/workflows.js';
import type { Courier } from '../../src/index.js';
import { apiCourier, BASE, call, expectProblem } from './helpers.js';

let courier: Courier;
let api: CourierHttpHandler;

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
});
afterAll(async () => {
  await courier.close();
});

describe('GET /workflows/{id}', () => {
  it('returns each step with its state and edges, matching the documented schema', async () => {
    const { id, tasks } = await courier
      .workflow('welcome-pair')
      .step('first', 'send_welcome', { userId: 1 })
      .step('second', 'send_welcome', { userId: 2 }, { dependsOn: ['first'] })
      .enqueue();
    const res = await call(api, 'GET', `${BASE}/workflows/${id}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { steps: unknown[] };
    expect(workflowSchema.safeParse(body).success).toBe(true);
    expect(body).toMatchObject({ id, kind: 'workflow', name: 'welcome-pair', status: 'running', progress: { total: 2, queued: 1, waiting: 1 } });
    expect(body.steps[1]).toMatchObject({ taskId: tasks.second, step: 'second', status: 'waiting', dependsOn: [tasks.first], pendingParents: 1 });
    await courier.drain();
    const done = await (await call(api, 'GET', `${BASE}/workflows/${id}`)).json();
    expect(done).toMatchObject({ status: 'succeeded', progress: { succeeded: 2 } });
  });

  it('answers 404 problem+json for an unknown id and 400 for a malformed one', async () => {
    await expectProblem(await call(api, 'GET', `${BASE}/workflows/999999`), 404, 'id');
    const bad = await call(api, 'GET', `${BASE}/workflows/abc`);
    expect(bad.status).toBe(400);
  });
});
