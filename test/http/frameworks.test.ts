import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createExpressApp } from '../../examples/http-express.js';
import { createApp as createFastifyApp } from '../../examples/http-fastify.js';
import { createFetchApp } from '../../examples/http-fetch.js';
import { createServer as createNodeServer } from '../../examples/http-node.js';
import { type CourierHttpHandler, createHttpHandler } from '../../src/http/index.js';
import type { Courier, CourierPlugin } from '../../src/index.js';
import { messageHttpRoutes } from '../../src/messages/http.js';
import type { Messages } from '../../src/messages/index.js';
import { databaseUrl, freshSchema, testCourier, waitFor } from '../helpers/db.js';
import { BASE, expectProblem, registerFixtureTasks, TOKEN } from './helpers.js';

let courier: Courier;
let api: CourierHttpHandler;
const forwarded: { body: string; url: string; contentType: string | null }[] = [];

/** Stands in for messaging's Twilio handler behind its real routes: records what the mount hands over. */
const recorder: CourierPlugin<'recorder', unknown> = {
  name: 'recorder',
  setup() {
    const twilio = async (request: Request) => {
      forwarded.push({ body: await request.text(), url: request.url, contentType: request.headers.get('content-type') });
      return new Response('<Response/>', { headers: { 'content-type': 'text/xml' } });
    };
    const stand = { webhooks: { twilio } };
    return { api: stand, extensions: { http: messageHttpRoutes(stand as unknown as Messages) } };
  },
};

beforeAll(async () => {
  courier = await testCourier({ plugins: [recorder] });
  registerFixtureTasks(courier);
  api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
});
afterAll(async () => {
  await courier.close();
});

const auth = { authorization: `Bearer ${TOKEN}` };

/** The same checks against any server that mounts the handler at BASE. */
async function exercise(origin: string): Promise<void> {
  const page = await fetch(`${origin}${BASE}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(page.headers.get('content-security-policy')).toContain("script-src 'nonce-");
  expect(await page.text()).toContain('data-testid="count-queued"');
  expect((await fetch(`${origin}${BASE}`)).status).toBe(200);

  const created = await fetch(`${origin}${BASE}/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'send_welcome', payload: { userId: 5 } }),
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const task = await fetch(`${origin}${BASE}/tasks/${id}`, { headers: auth });
  expect(await task.json()).toMatchObject({ id, name: 'send_welcome', status: 'queued' });
  const head = await fetch(`${origin}${BASE}/tasks/${id}`, { method: 'HEAD', headers: auth });
  expect(head.status).toBe(200);
  expect(await head.text()).toBe('');

  await expectProblem(await fetch(`${origin}${BASE}/tasks/${id}`), 401);
  const wrong = await fetch(`${origin}${BASE}/tasks`, { method: 'PATCH', headers: auth });
  await expectProblem(wrong, 405);
  expect(wrong.headers.get('allow')).toBe('POST, GET, HEAD, OPTIONS');
  await expectProblem(await fetch(`${origin}${BASE}/tasks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"name":' }), 400, 'body');
  await expectProblem(await fetch(`${origin}${BASE}/tasks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'send_welcome', payload: { pad: 'x'.repeat(3 * 1024 * 1024) } }) }), 413);

  // Chunked upload (no Content-Length), streamed through the adapter.
  const chunked = await fetch(`${origin}${BASE}/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"name":"send_welcome",'));
        c.enqueue(new TextEncoder().encode('"payload":{"userId":6}}'));
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  expect(chunked.status).toBe(201);

  // Webhooks get the raw bytes, the full URL and no bearer token.
  const form = 'MessageSid=SM9&MessageStatus=delivered&Body=a%2Bb+c';
  const hook = await fetch(`${origin}${BASE}/webhooks/twilio?m=1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  expect(hook.status).toBe(200);
  expect(forwarded.at(-1)).toEqual({ body: form, url: `${origin}${BASE}/webhooks/twilio?m=1`, contentType: 'application/x-www-form-urlencoded' });

  const openapi = await fetch(`${origin}${BASE}/openapi.json`);
  expect(((await openapi.json()) as { openapi: string }).openapi).toBe('3.1.0');
  await courier.cancel(id);
}

async function start(server: http.Server): Promise<{ origin: string; close(): Promise<void> }> {
  if (!server.listening) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('node:http (examples/http-node.ts)', () => {
  it('serves the API, dashboard and webhooks, and the host keeps its own routes', async () => {
    const s = await start(createNodeServer(api));
    try {
      await exercise(s.origin);
      expect(await (await fetch(`${s.origin}/`)).text()).toBe('the host application\n');
    } finally {
      await s.close();
    }
  });

  it('keeps a keep-alive connection usable after refusing an oversized body', async () => {
    const small = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, bodyLimit: 1024 });
    const s = await start(createNodeServer(small));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (body: string | null, path = `${BASE}/tasks`) =>
      new Promise<{ status: number; text: string; socket: unknown }>((resolve, reject) => {
        const req = http.request(`${s.origin}${path}`, { method: body === null ? 'GET' : 'POST', agent, headers: { ...auth, 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text, socket: req.socket }));
        });
        req.on('error', reject);
        if (body !== null) {
          // Written in pieces without a Content-Length: the limit is enforced while streaming.
          for (let i = 0; i < body.length; i += 512) req.write(body.slice(i, i + 512));
        }
        req.end();
      });
    try {
      const big = await send(JSON.stringify({ name: 'send_welcome', payload: { pad: 'x'.repeat(8192) } }));
      expect(big.status).toBe(413);
      const next = await send(null, `${BASE}/queue-status`);
      expect(next.status).toBe(200);
      expect(JSON.parse(next.text)).toHaveProperty('total');
    } finally {
      agent.destroy();
      await s.close();
    }
  });

  it('does not hang on a body another middleware already read, nor log a client that went away', async () => {
    const consumed = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => api.node(req, res));
    });
    const s = await start(consumed);
    const logged: string[] = [];
    const saved = { error: courier.logger.error, debug: courier.logger.debug };
    Object.assign(courier.logger, { error: (...a: unknown[]) => logged.push(`error ${String(a.at(-1))}`), debug: (...a: unknown[]) => logged.push(`debug ${String(a.at(-1))}`) });
    try {
      const res = await fetch(`${s.origin}${BASE}/tasks/987654321/cancel`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
      await expectProblem(res, 404, 'id');
      const server = createNodeServer(api);
      const plain = await start(server);
      const requested = once(server, 'request');
      try {
        const url = new URL(`${plain.origin}${BASE}/tasks`);
        const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-length': '100000' } });
        req.on('error', () => {});
        req.write('{"name":"send_welcome","payload":');
        await requested; // the handler is reading the body now
        req.destroy();
        await waitFor(() => logged.some((l) => l.includes('client went away')), 10_000, 'the abort to be noticed');
        expect(logged.filter((l) => l.startsWith('error'))).toEqual([]);
      } finally {
        await plain.close();
      }
    } finally {
      Object.assign(courier.logger, saved);
      await s.close();
    }
  });

  it('takes scheme and host from X-Forwarded-* only when trustProxy is set', async () => {
    const plain = await start(createNodeServer(createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } })));
    const proxied = await start(createNodeServer(createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, trustProxy: true })));
    try {
      const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'hooks.example.com' };
      await fetch(`${plain.origin}${BASE}/webhooks/twilio`, { method: 'POST', headers, body: 'a=b' });
      await fetch(`${proxied.origin}${BASE}/webhooks/twilio?x=1`, { method: 'POST', headers, body: 'a=b' });
      expect(forwarded.slice(-2).map((f) => f.url)).toEqual([`${plain.origin}${BASE}/webhooks/twilio`, `https://hooks.example.com${BASE}/webhooks/twilio?x=1`]);
    } finally {
      await plain.close();
      await proxied.close();
    }
  });
});

describe('Express (examples/http-express.ts)', () => {
  it('mounted with app.use(api.node): API, dashboard, webhooks; other paths fall through', async () => {
    const s = await start(createExpressApp(api).listen(0, '127.0.0.1'));
    try {
      await exercise(s.origin);
      expect(await (await fetch(`${s.origin}/`)).text()).toBe('the host application');
    } finally {
      await s.close();
    }
  });

  it('mounted under a path, and behind express.json() (the body is re-encoded)', async () => {
    const { default: express } = await import('express');
    const app = express();
    app.use(express.json());
    app.use('/courier', api.node);
    const s = await start(app.listen(0, '127.0.0.1'));
    try {
      const res = await fetch(`${s.origin}${BASE}/tasks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'send_welcome', payload: { userId: 8 } }) });
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toMatch(new RegExp(`^${BASE}/tasks/\\d+$`));
      await expectProblem(await fetch(`${s.origin}${BASE}/tasks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'send_welcome', bogus: 1 }) }), 400, 'bogus');
      expect((await fetch(`${s.origin}${BASE}/queue-status`, { headers: auth })).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('Fastify (examples/http-fastify.ts)', () => {
  it('as an encapsulated plugin with the raw body left unread', async () => {
    const app = await createFastifyApp(api);
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as AddressInfo;
      await exercise(`http://127.0.0.1:${port}`);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('the host application');
    } finally {
      await app.close();
    }
  });
});

describe('fetch-style servers (examples/http-fetch.ts) and Next.js route handlers (examples/http-nextjs.ts)', () => {
  it('answers web Requests directly, as Hono, Bun or Deno would call it', async () => {
    const app = createFetchApp(api);
    const res = await app(new Request(`http://app.test${BASE}/queue-status`, { headers: auth }));
    expect(res.status).toBe(200);
    expect(await (await app(new Request('http://app.test/'))).text()).toBe('the host application');
    const s = await start(http.createServer((await import('../../src/http/index.js')).toNodeListener(app)));
    try {
      await exercise(s.origin);
    } finally {
      await s.close();
    }
  });

  it('exports GET/POST/… route handlers that Next.js calls with web Requests', async () => {
    const schema = freshSchema();
    const saved = { url: process.env.DATABASE_URL, schema: process.env.PGCOURIER_SCHEMA, token: process.env.COURIER_TOKEN };
    process.env.DATABASE_URL = databaseUrl();
    process.env.PGCOURIER_SCHEMA = schema;
    process.env.COURIER_TOKEN = TOKEN;
    const route = await import('../../examples/http-nextjs.js');
    try {
      await route.courier.migrate();
      route.courier.registerTask('hello', async () => 'hi');
      const post = await route.POST(new Request(`http://next.test${BASE}/tasks`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hello' }) }));
      expect(post.status).toBe(201);
      const { id } = (await post.json()) as { id: string };
      expect(await (await route.GET(new Request(`http://next.test${BASE}/tasks/${id}`, { headers: auth }))).json()).toMatchObject({ id, name: 'hello' });
      expect((await route.DELETE(new Request(`http://next.test${BASE}/schedules/none`, { method: 'DELETE', headers: auth }))).status).toBe(404);
      expect((await route.GET(new Request(`http://next.test${BASE}/`))).status).toBe(200);
      expect(route.runtime).toBe('nodejs');
    } finally {
      await route.courier.close();
      for (const [k, v] of [['DATABASE_URL', saved.url], ['PGCOURIER_SCHEMA', saved.schema], ['COURIER_TOKEN', saved.token]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
