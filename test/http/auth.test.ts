import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CourierHttpHandler, createHttpHandler } from '../../src/http/index.js';
import type { Courier } from '../../src/index.js';
import { apiCourier, BASE, call, expectProblem, TOKEN } from './helpers.js';

let courier: Courier;
let api: CourierHttpHandler;
let operations: { method: string; path: string; bearer: boolean; webhook: boolean }[];
let pathMethods: Map<string, string[]>;

/** A concrete URL path for a documented path template. */
function concrete(template: string): string {
  return BASE + template.replace('{id}', '1').replace('{queue}', 'email').replace('{name}', 'nightly');
}

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
  const doc = (await (await call(api, 'GET', `${BASE}/openapi.json`, { token: null })).json()) as {
    paths: Record<string, Record<string, { security?: unknown[]; tags: string[] }>>;
  };
  operations = [];
  pathMethods = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    pathMethods.set(path, Object.keys(item).map((m) => m.toUpperCase()));
    for (const [method, op] of Object.entries(item)) {
      operations.push({ method: method.toUpperCase(), path, bearer: op.security === undefined, webhook: op.tags.includes('webhooks') });
    }
  }
});
afterAll(async () => {
  await courier.close();
});

describe('bearer authentication', () => {
  it('covers the management endpoints', () => {
    const bearer = operations.filter((o) => o.bearer);
    expect(bearer.length).toBeGreaterThanOrEqual(25);
    expect(operations.filter((o) => !o.bearer && !o.webhook).map((o) => `${o.method} ${o.path}`)).toEqual(['GET /', 'GET /health', 'GET /openapi.json']);
  });

  it('answers 401 with a Bearer challenge when credentials are missing, on every management endpoint', async () => {
    for (const op of operations.filter((o) => o.bearer)) {
      const res = await call(api, op.method, concrete(op.path), { token: null });
      await expectProblem(res, 401);
      expect(res.headers.get('www-authenticate'), `${op.method} ${op.path}`).toBe('Bearer realm="pgcourier"');
    }
  });

  it('answers 401 invalid_token for a wrong token (and for a token of another length), on every management endpoint', async () => {
    for (const op of operations.filter((o) => o.bearer)) {
      for (const token of [`${TOKEN.slice(0, -1)}X`, 'short', `${TOKEN}${TOKEN}`]) {
        const res = await call(api, op.method, concrete(op.path), { token });
        await expectProblem(res, 401);
        expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
      }
    }
  });

  it('rejects other schemes and malformed headers', async () => {
    await expectProblem(await call(api, 'GET', `${BASE}/tasks`, { token: null, headers: { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` } }), 401);
    await expectProblem(await call(api, 'GET', `${BASE}/tasks`, { token: null, headers: { authorization: 'Bearer' } }), 401);
  });

  it('accepts any of several tokens (rotation) and a lower-case scheme', async () => {
    const rotated = createHttpHandler(courier, { basePath: BASE, auth: { token: ['old-token-0123456789abcdef', TOKEN] } });
    expect((await call(rotated, 'GET', `${BASE}/queue-status`)).status).toBe(200);
    expect((await call(rotated, 'GET', `${BASE}/queue-status`, { token: 'old-token-0123456789abcdef' })).status).toBe(200);
    expect((await call(rotated, 'GET', `${BASE}/queue-status`, { token: null, headers: { authorization: `bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('never needs a token for the dashboard shell, the OpenAPI document and health', async () => {
    for (const path of ['/', '/openapi.json', '/health']) expect((await call(api, 'GET', `${BASE}${path}`, { token: null })).status).toBe(200);
  });
});

describe('authorize callback', () => {
  const session = 'session=ok';
  let hosted: CourierHttpHandler;
  beforeAll(() => {
    hosted = createHttpHandler(courier, { basePath: BASE, auth: { authorize: (req) => req.headers.get('cookie') === session } });
  });

  it('lets the host decide (e.g. by cookie), 403 when it says no, on every management endpoint', async () => {
    for (const op of operations.filter((o) => o.bearer)) {
      const res = await call(hosted, op.method, concrete(op.path), { token: null, headers: { cookie: 'session=nope' } });
      await expectProblem(res, 403);
    }
    expect((await call(hosted, 'GET', `${BASE}/queue-status`, { token: null, headers: { cookie: session } })).status).toBe(200);
  });

  it('refuses cross-site state changes that ride on the cookie', async () => {
    const { id } = (await (await call(api, 'POST', `${BASE}/tasks`, { body: { name: 'flaky' } })).json()) as { id: string };
    const cross = await call(hosted, 'POST', `${BASE}/tasks/${id}/cancel`, { token: null, headers: { cookie: session, 'sec-fetch-site': 'cross-site' } });
    await expectProblem(cross, 403);
    expect((await courier.getTask(id))?.status).toBe('queued');
    const same = await call(hosted, 'POST', `${BASE}/tasks/${id}/cancel`, { token: null, headers: { cookie: session, 'sec-fetch-site': 'same-origin' } });
    expect(same.status).toBe(200);
  });

  it('treats a callback that throws as a refusal, logged', async () => {
    const logged: unknown[] = [];
    const saved = courier.logger.error;
    (courier.logger as unknown as { error: (...a: unknown[]) => void }).error = (...a: unknown[]) => logged.push(a);
    try {
      const broken = createHttpHandler(courier, {
        basePath: BASE,
        auth: {
          authorize: () => {
            throw new Error('session store down');
          },
        },
      });
      const body = await expectProblem(await call(broken, 'GET', `${BASE}/tasks`, { token: null }), 403);
      expect(JSON.stringify(body)).not.toContain('session store');
      expect(logged).toHaveLength(1);
    } finally {
      (courier.logger as unknown as { error: typeof saved }).error = saved;
    }
  });

  it('still accepts the bearer token when both are configured', async () => {
    const both = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN, authorize: () => false } });
    expect((await call(both, 'GET', `${BASE}/queue-status`)).status).toBe(200);
    await expectProblem(await call(both, 'GET', `${BASE}/queue-status`, { token: null }), 403);
    await expectProblem(await call(both, 'GET', `${BASE}/queue-status`, { token: 'wrong-token-0123456789' }), 401);
  });
});

describe('wrong method', () => {
  it('answers 405 with the documented methods in Allow, on every path', async () => {
    for (const [path, methods] of pathMethods) {
      const allow = [...methods];
      if (allow.includes('GET')) allow.push('HEAD');
      if (!allow.includes('OPTIONS')) allow.push('OPTIONS');
      for (const method of ['PUT', 'PATCH', 'DELETE', 'POST', 'GET'].filter((m) => !methods.includes(m))) {
        const res = await call(api, method, concrete(path), { token: null });
        const body = await expectProblem(res, 405);
        expect(res.headers.get('allow')?.split(', ').sort(), `${method} ${path}`).toEqual(allow.sort());
        expect((body.allow as string[]).sort()).toEqual(allow.sort());
      }
    }
  });
});
