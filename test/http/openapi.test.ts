import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CourierHttpHandler } from '../../src/http/index.js';
import type { Courier } from '../../src/index.js';
import { EXAMPLE_UNKNOWN_MESSAGE } from '../../src/messages/http.js';
import { waitFor } from '../helpers/db.js';
import { apiCourier, BASE, call } from './helpers.js';

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

let courier: Courier;
let api: CourierHttpHandler;
let doc: Json;
let ajv: Ajv2020;

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
  const res = await call(api, 'GET', `${BASE}/openapi.json`, { token: null });
  expect(res.headers.get('content-type')).toBe('application/json');
  doc = (await res.json()) as Json;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'https://openapi.test/doc', components: doc.components }, undefined, true);
});
afterAll(async () => {
  await courier.close();
});

/** Validates `value` against a media type's schema from the document. */
function check(schema: Json, value: unknown): string | null {
  const wrapped = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"https://openapi.test/doc#/components/'));
  const validate = ajv.compile(wrapped);
  return validate(value) ? null : ajv.errorsText(validate.errors);
}

describe('OpenAPI document (structure)', () => {
  it('is OpenAPI 3.1.0 with info, servers, security schemes and the 2020-12 dialect', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(doc.servers).toEqual([{ url: BASE }]);
    expect(doc.components.securitySchemes.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
  });

  it('gives every path and method an operationId, tags and responses, and unique operationIds', () => {
    const ids = new Set<string>();
    let count = 0;
    for (const [path, item] of Object.entries(doc.paths as Json)) {
      expect(path.startsWith('/')).toBe(true);
      for (const [method, op] of Object.entries(item as Json)) {
        expect(METHODS).toContain(method);
        count++;
        expect(op.operationId, `${method} ${path}`).toMatch(/^[A-Za-z]+$/);
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        expect(op.tags.length).toBeGreaterThan(0);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const [status, r] of Object.entries(op.responses as Json)) {
          expect(status).toMatch(/^([1-5]\d\d|default)$/);
          expect(typeof r.description).toBe('string');
        }
        const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const inPath = (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
        expect(inPath.sort()).toEqual(templated.sort());
        for (const p of op.parameters ?? []) {
          expect(['path', 'query']).toContain(p.in);
          expect(p.schema).toBeTypeOf('object');
          if (p.in === 'path') expect(p.required).toBe(true);
        }
      }
    }
    expect(count).toBeGreaterThanOrEqual(40);
  });

  it('has schemas that are valid JSON Schema 2020-12, with every $ref resolving', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas as Json)) {
      expect(ajv.validateSchema(schema), `${name}: ${ajv.errorsText(ajv.errors)}`).toBe(true);
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split('/').pop() as string], ref).toBeDefined();
    }
    for (const item of Object.values(doc.paths as Json)) {
      for (const op of Object.values(item as Json)) {
        for (const media of [...Object.values(op.requestBody?.content ?? {}), ...Object.values(op.responses).flatMap((r: any) => Object.values(r.content ?? {}))]) {
          const s = (media as Json).schema;
          expect(() => ajv.compile(JSON.parse(JSON.stringify(s).replaceAll('"#/components/', '"https://openapi.test/doc#/components/')))).not.toThrow();
        }
        for (const p of op.parameters ?? []) expect(ajv.validateSchema(p.schema)).toBe(true);
      }
    }
  });

  it('documents the problem responses every management operation can return', () => {
    const enqueue = doc.paths['/tasks'].post;
    for (const s of ['201', '400', '401', '403', '413', '415', 'default']) expect(enqueue.responses).toHaveProperty(s);
    expect(enqueue.responses['400'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(doc.paths['/queues/{queue}/pause'].post.responses).not.toHaveProperty('501');
    expect(doc.paths['/webhooks/twilio'].post.security).toEqual([]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/tasks'].get.security).toBeUndefined();
  });

  it('keeps documented examples valid against their own schemas', () => {
    for (const item of Object.values(doc.paths as Json)) {
      for (const op of Object.values(item as Json)) {
        const body = op.requestBody?.content?.['application/json'];
        if (body?.example !== undefined) expect(check(body.schema, body.example), op.operationId).toBeNull();
        for (const r of Object.values(op.responses as Json)) {
          const media = r.content?.['application/json'];
          if (media?.example !== undefined) expect(check(media.schema, media.example), op.operationId).toBeNull();
        }
        for (const p of op.parameters ?? []) {
          if (p.example === undefined) continue;
          const value = p.schema.type === 'integer' ? Number(p.example) : p.example;
          expect(check(p.schema, value), `${op.operationId} ${p.name}`).toBeNull();
        }
      }
    }
  });
});

describe('OpenAPI document (matches the handler)', () => {
  it('sends each documented example and gets the documented status and body shape', async () => {
    // Fixture the examples refer to: task 1 succeeded, 2 queued (delayed), 3 failed (retried,
    // then promoted), 4 cancelled (deleted).
    const one = await courier.enqueueTask('send_welcome', { userId: 1 });
    await courier.drain();
    const two = await courier.enqueueTask('send_welcome', { userId: 2 }, { runAt: new Date(Date.now() + 3_600_000) });
    const three = await courier.enqueueTask('fail_always', {});
    await courier.drain();
    const four = await courier.enqueueTask('send_welcome', { userId: 4 }, { runAt: new Date(Date.now() + 3_600_000) });
    await courier.cancel(four);
    expect([one, two, three, four]).toEqual(['1', '2', '3', '4']);
    // Workflow 1, empty: the getWorkflow example reads it.
    await courier.pool.query(`INSERT INTO "${courier.schema}".workflows (kind, name) VALUES ('workflow', 'monthly-report')`);
    // An `unknown` message: the reconcileMessage and resendMessage examples act on it.
    await courier.pool.query(`INSERT INTO "${courier.schema}".messages (id, channel, recipient, body, status) VALUES ($1, 'sms', '+15555550199', 'hi', 'unknown')`, [EXAMPLE_UNKNOWN_MESSAGE]);

    let sent = 0;
    const created: string[] = []; // Location headers of 201s: ids for reads without a static example
    for (const [template, item] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        if (op.tags.includes('webhooks')) continue; // signed by providers: see webhooks.test.ts
        let path = template;
        const query = new URLSearchParams();
        for (const p of op.parameters ?? []) {
          if (p.example !== undefined) {
            if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(p.example));
            else query.set(p.name, String(p.example));
          }
        }
        if (path.includes('{')) {
          const pattern = new RegExp(`^${BASE}${path.replace(/\{\w+\}/g, '[^/]+')}$`);
          // A created resource's Location, or a sub-resource of one (`/messages/{id}/history`).
          const prefix = new RegExp(`^${BASE}${path.replace(/\{\w+\}.*$/, '')}[^/]+$`);
          const parent = created.find((l) => prefix.test(l));
          const location = created.find((l) => pattern.test(l)) ?? (parent ? `${parent}${path.replace(/^.*?\{\w+\}/, '')}` : undefined);
          path = location ? location.slice(BASE.length) : path.replace(/\{\w+\}/g, 'none');
        }
        const example = op.requestBody?.content?.['application/json']?.example;
        const res = await call(api, method.toUpperCase(), `${BASE}${path === '/' ? '/' : path}${query.size ? `?${query}` : ''}`, example === undefined ? {} : { body: example });
        const text = await res.text();
        const location = res.headers.get('location');
        if (res.status === 201 && location) created.push(location);
        const success = Object.keys(op.responses).filter((s) => /^2/.test(s)).sort()[0] as string;
        const expected = success;
        expect(String(res.status), `${method.toUpperCase()} ${path}: ${text}`).toBe(expected);
        const documented = op.responses[expected];
        const [type, media] = Object.entries(documented.content ?? {})[0] ?? [];
        if (type) expect(res.headers.get('content-type')).toBe(type);
        if (type === 'application/json' || type === 'application/problem+json') {
          expect(check((media as Json).schema, JSON.parse(text)), `${op.operationId} response`).toBeNull();
        }
        sent++;
      }
    }
    expect(sent).toBeGreaterThanOrEqual(30);
  });

  it('lists every route the handler serves (no undocumented endpoint)', async () => {
    const documented = new Set(Object.keys(doc.paths));
    for (const probe of ['/tasks', '/tasks/bulk', '/tasks/{id}', '/tasks/{id}/cancel', '/tasks/{id}/retry', '/task-types', '/queue-status', '/queues', '/overview', '/health', '/metrics', '/workers', '/openapi.json']) {
      expect(documented.has(probe), probe).toBe(true);
    }
    for (const alias of ['/api/tasks/enqueue/', '/api/tasks/status/{id}/', '/api/tasks/list/', '/api/tasks/queue-status/']) expect(documented.has(alias), alias).toBe(true);
    for (const flow of ['/workflows/{id}', '/redrive']) expect(documented.has(flow), flow).toBe(true);
    for (const hook of ['/webhooks/twilio', '/webhooks/meta', '/webhooks/emailjs', '/api/v1.0/email/send']) expect(documented.has(hook), hook).toBe(true);
  });
});

describe('OpenAPI document (the dashboard\'s endpoints, with data)', () => {
  it('validates every response the dashboard reads, filled with real rows, against the documented schema', async () => {
    const messages = (courier as unknown as { messages: { registerProvider(p: unknown): void; send(i: unknown): Promise<string>; sendBulk(i: unknown): Promise<string> } }).messages;
    messages.registerProvider({
      name: 'doc-sms',
      channels: ['sms'],
      async send() {
        return { outcome: 'ok', providerMessageId: 'SM-doc-1' };
      },
    });
    const message = await messages.send({ channel: 'sms', to: '+15555550123', body: 'hello', provider: 'doc-sms' });
    const batch = await messages.sendBulk({ channel: 'sms', provider: 'doc-sms', template: 'Hi {{name}}', recipients: [{ to: '+15555550124', variables: { name: 'a' } }] });
    const failed = await courier.enqueueTask('fail_always', {});
    await courier.enqueueTask('send_welcome', { userId: 5 }, { delay: 600, key: 'doc-key' });
    await courier.schedule('doc-schedule', '*/5 * * * *', 'send_welcome', { userId: 6 });
    await courier.configureQueue('email', { concurrency: 3, rateLimit: '10/s' });
    await courier.start({ concurrency: 2, pollInterval: 0.1 });
    try {
      await waitFor(async () => (await courier.getTask(failed))?.status === 'failed', 30_000, 'the task to fail');
      await waitFor(async () => (await courier.workers()).length > 0, 30_000, 'a worker row');
      await waitFor(
        async () => {
          const res = await call(api, 'GET', `${BASE}/batches/${batch}`);
          return res.ok && ((await res.json()) as { active: number }).active === 0;
        },
        30_000,
        'the bulk send to finish',
      );
      const reads: [string, string][] = [
        ['/overview', '/overview'],
        ['/history', '/history?minutes=5'],
        ['/tasks', '/tasks?sort=priority&limit=5'],
        ['/tasks', `/tasks?q=doc-key`],
        ['/tasks/counts', '/tasks/counts'],
        ['/tasks/{id}', `/tasks/${failed}`],
        ['/workers', '/workers'],
        ['/queues', '/queues'],
        ['/schedules', '/schedules'],
        ['/task-types', '/task-types'],
        ['/batches', '/batches'],
        ['/batches/{id}', `/batches/${batch}`],
        ['/messages', '/messages?channel=sms'],
        ['/messages/{id}', `/messages/${message}`],
        ['/messages/{id}/history', `/messages/${message}/history`],
        ['/messages/status', '/messages/status'],
      ];
      for (const [template, path] of reads) {
        const res = await call(api, 'GET', `${BASE}${path}`);
        const text = await res.text();
        expect(res.status, `${path}: ${text}`).toBe(200);
        const body = JSON.parse(text);
        const schema = doc.paths[template].get.responses['200'].content['application/json'].schema;
        expect(check(schema, body), path).toBeNull();
        // Not vacuous: the lists hold the rows made above.
        if (path === '/workers') expect(body.workers.length).toBeGreaterThan(0);
        if (path.startsWith('/messages?')) expect(body.messages.length).toBeGreaterThan(0);
        if (path === '/batches') expect(body.batches.length).toBeGreaterThan(0);
        if (path.endsWith('/history') && path.startsWith('/messages')) expect(body.attempts.length).toBeGreaterThan(0);
      }
      const writes: [string, string, string, unknown][] = [
        ['/tasks/actions', 'post', '/tasks/actions', { action: 'retry', ids: [failed], dryRun: true }],
        ['/queues/{queue}', 'post', '/queues/email', { concurrency: 4 }],
        ['/queues/{queue}', 'post', '/queues/reports', { groupConcurrency: { default: 2, tiers: { gold: 5 } }, groupRateLimit: '10/s', fair: false, deadLetter: 'reports.dead' }],
        ['/redrive', 'post', '/redrive', { deadLetter: 'reports.dead', dryRun: true }],
        ['/queues/{queue}/pause', 'post', '/queues/email/pause', undefined],
        ['/queues/{queue}/resume', 'post', '/queues/email/resume', undefined],
        ['/schedules/{name}/pause', 'post', '/schedules/doc-schedule/pause', undefined],
        ['/schedule-preview', 'post', '/schedule-preview', { cron: '0 9 * * 1-5', timezone: 'America/New_York' }],
        ['/tasks/{id}/retry', 'post', `/tasks/${failed}/retry`, undefined],
      ];
      for (const [template, method, path, body] of writes) {
        const res = await call(api, method.toUpperCase(), `${BASE}${path}`, body === undefined ? {} : { body });
        const text = await res.text();
        expect(res.status, `${path}: ${text}`).toBe(200);
        const schema = doc.paths[template][method].responses['200'].content['application/json'].schema;
        expect(check(schema, JSON.parse(text)), path).toBeNull();
      }
    } finally {
      await courier.stop({ grace: 5 });
    }
  });
});
