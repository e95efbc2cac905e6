import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CourierHttpHandler, createHttpHandler } from '../../src/http/index.js';
import type { Courier, CourierPlugin } from '../../src/index.js';
import { messageHttpRoutes } from '../../src/messages/http.js';
import { type Messages, type MessagingCourier, messages } from '../../src/messages/index.js';
import { testCourier } from '../helpers/db.js';
import { BASE, call, expectProblem, listen, registerFixtureTasks, TOKEN } from './helpers.js';

const TWILIO_TOKEN = 'twilio-auth-token-for-tests-0001';
const META_SECRET = 'meta-app-secret-for-tests-0001';
const VERIFY_TOKEN = 'meta-verify-token-0001';
const EMAILJS_SECRET = 'whsec_cGdjb3VyaWVyLXRlc3Qtc2VjcmV0LTAwMDE=';
const SITE = 'https://site.example';

/** Twilio's algorithm, written out here so the test does not check messaging against itself. */
function twilioSign(url: string, params: Record<string, string>): string {
  const data = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
  return createHmac('sha1', TWILIO_TOKEN).update(data, 'utf8').digest('base64');
}
function metaSign(body: string, secret = META_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
function standardSign(id: string, ts: number, body: string): string {
  const key = Buffer.from(EMAILJS_SECRET.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')}`;
}

describe('webhook mounts (forwarding)', () => {
  let courier: Courier;
  let seen: { provider: string; request: Request; body: string; info: unknown }[];
  let fake: Record<string, unknown>;

  beforeAll(async () => {
    seen = [];
    const hook = (provider: string) => async (request: Request, info?: unknown) => {
      seen.push({ provider, request, body: await request.text(), info });
      return new Response(provider === 'twilio' ? '<Response/>' : 'OK', { status: 200, headers: { 'content-type': 'text/plain', 'x-provider': provider } });
    };
    fake = { webhooks: { twilio: hook('twilio'), meta: hook('meta'), emailjs: hook('emailjs') } };
    // A stand-in for the provider handlers, behind messaging's real routes: what is tested is the hand-over.
    const recorder: CourierPlugin<'recorder', unknown> = {
      name: 'recorder',
      setup: () => ({ api: fake, extensions: { http: messageHttpRoutes(fake as unknown as Messages) } }),
    };
    courier = await testCourier({ plugins: [recorder] });
  });
  afterAll(async () => {
    await courier.close();
  });

  it('forwards method, URL, headers and the exact body, without bearer auth, and returns the handler\'s response', async () => {
    const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
    const form = 'MessageSid=SM1&MessageStatus=delivered&Body=caf%C3%A9+%26+more';
    const res = await call(api, 'POST', `${BASE}/webhooks/twilio?m=abc`, {
      token: 'not-the-token-at-all-000',
      raw: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'sig==' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-provider')).toBe('twilio');
    expect(await res.text()).toBe('<Response/>');
    const last = seen.at(-1)!;
    expect(last.request.method).toBe('POST');
    expect(last.request.url).toBe(`http://courier.test${BASE}/webhooks/twilio?m=abc`);
    expect(last.request.headers.get('x-twilio-signature')).toBe('sig==');
    expect(last.body).toBe(form);
    for (const [path, provider] of [
      ['/webhooks/meta', 'meta'],
      ['/webhooks/emailjs', 'emailjs'],
      ['/api/v1.0/email/send', 'emailjs'],
      ['/api/v1.0/email/send-form', 'emailjs'],
    ] as const) {
      const r = await call(api, 'POST', `${BASE}${path}`, { token: null, raw: '{"a":1}', headers: { 'content-type': 'application/json' } });
      expect(r.status, path).toBe(200);
      expect(seen.at(-1)).toMatchObject({ provider, body: '{"a":1}' });
    }
    const verify = await call(api, 'GET', `${BASE}/webhooks/meta?hub.mode=subscribe&hub.challenge=42`, { token: null });
    expect(verify.status).toBe(200);
    expect(seen.at(-1)?.request.method).toBe('GET');
    const preflight = await call(api, 'OPTIONS', `${BASE}/api/v1.0/email/send`, { token: null, headers: { origin: SITE } });
    expect(preflight.status).toBe(200);
    expect(seen.at(-1)?.request.method).toBe('OPTIONS');
  });

  it('limits webhook bodies before the handler sees them', async () => {
    const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, webhookBodyLimit: 1024 });
    const before = seen.length;
    await expectProblem(await call(api, 'POST', `${BASE}/webhooks/meta`, { token: null, raw: 'x'.repeat(2048), headers: { 'content-type': 'application/json' } }), 413);
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode('y'.repeat(400)));
        c.close();
      },
    });
    await expectProblem(await call(api, 'POST', `${BASE}/webhooks/twilio`, { token: null, raw: chunks }), 413);
    expect(seen.length).toBe(before);
  });

  it('passes the client address to the EmailJS handler through the Node adapter', async () => {
    const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
    const server = await listen(api.node);
    try {
      const res = await fetch(`${server.url}${BASE}/api/v1.0/email/send`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(200);
      expect(seen.at(-1)?.info).toEqual({ ip: expect.stringMatching(/127\.0\.0\.1/) });
      expect(seen.at(-1)?.request.url).toBe(`${server.url}${BASE}/api/v1.0/email/send`);
    } finally {
      await server.close();
    }
  });

  it('answers 404 problem+json without the messages plugin, 500 when a handler throws', async () => {
    const bare = await testCourier();
    try {
      const plain = createHttpHandler(bare, { basePath: BASE, auth: { token: TOKEN } });
      await expectProblem(await call(plain, 'POST', `${BASE}/webhooks/twilio`, { token: null, raw: 'a=b' }), 404);
    } finally {
      await bare.close();
    }
    const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
    const hooks = fake.webhooks as Record<string, unknown>;
    hooks.meta = async () => {
      throw new Error('boom with secret app-secret-xyz');
    };
    const body = await expectProblem(await call(api, 'POST', `${BASE}/webhooks/meta`, { token: null, raw: '{}' }), 500);
    expect(JSON.stringify(body)).not.toContain('app-secret-xyz');
  });

  it('answers 405 with Allow for other methods', async () => {
    const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
    const res = await call(api, 'PUT', `${BASE}/webhooks/twilio`, { token: null });
    await expectProblem(res, 405);
    expect(res.headers.get('allow')).toBe('POST, OPTIONS');
    expect((await call(api, 'DELETE', `${BASE}/webhooks/meta`, { token: null })).headers.get('allow')).toBe('GET, POST, HEAD, OPTIONS');
  });
});

describe('webhooks end to end with messaging', () => {
  let courier: MessagingCourier;
  let api: CourierHttpHandler;
  let server: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    const providers = {
      twilio: { accountSid: `AC${'0'.repeat(32)}`, authToken: TWILIO_TOKEN, from: '+15555550000', baseUrl: 'http://127.0.0.1:9' },
      whatsapp: { phoneNumberId: '1234567890', accessToken: 'meta-access-token-0001', appSecret: META_SECRET, verifyToken: VERIFY_TOKEN, baseUrl: 'http://127.0.0.1:9' },
      emailjs: { publicKeys: ['pk_demo'], webhookSecret: EMAILJS_SECRET, allowedOrigins: [SITE] },
    };
    courier = (await testCourier({ plugins: [messages({ providers })] })) as MessagingCourier;
    registerFixtureTasks(courier);
    api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN } });
    server = await listen(api.node);
  });
  afterAll(async () => {
    await server.close();
    await courier.close();
  });

  async function sendVia(channel: string, to: string): Promise<string> {
    const res = await fetch(`${server.url}${BASE}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, to, body: 'hello' }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  async function statusOf(id: string): Promise<string> {
    const res = await fetch(`${server.url}${BASE}/messages/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { status: string }).status;
  }

  it('Twilio: accepts a genuine callback, applies a replay once, rejects a forged one', async () => {
    const id = await sendVia('sms', '+15555550123');
    const url = `${server.url}${BASE}/webhooks/twilio?m=${id}`;
    const params = { MessageSid: 'SM00000000000000000000000000000001', MessageStatus: 'delivered', AccountSid: `AC${'0'.repeat(32)}` };
    const post = (signature: string) =>
      fetch(url, { method: 'POST', body: new URLSearchParams(params).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature } });
    const forged = await post(twilioSign(url, { ...params, MessageStatus: 'read' }));
    expect(forged.status).toBe(401);
    expect(await statusOf(id)).not.toBe('delivered');
    const genuine = await post(twilioSign(url, params));
    expect(genuine.status).toBe(200);
    expect(await statusOf(id)).toBe('delivered');
    const replay = await post(twilioSign(url, params));
    expect(replay.status).toBe(200);
    const events = await courier.messages.events(id);
    expect(events.filter((e) => (e as { status?: string }).status === 'delivered')).toHaveLength(1);
    expect((await fetch(url, { method: 'POST', body: 'MessageStatus=read' })).status).toBe(401);
  });

  it('Meta: verification handshake, genuine and forged status webhooks', async () => {
    const ok = await fetch(`${server.url}${BASE}/webhooks/meta?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    expect((await fetch(`${server.url}${BASE}/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`)).status).toBe(403);
    const id = await sendVia('whatsapp', '+15555550124');
    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { statuses: [{ id: 'wamid.TEST1', status: 'read', timestamp: '1763895600', recipient_id: '15555550124', biz_opaque_callback_data: id }] } }] }],
    });
    const send = (signature: string) => fetch(`${server.url}${BASE}/webhooks/meta`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature } });
    expect((await send(metaSign(body, 'not-the-app-secret'))).status).toBe(401);
    expect(await statusOf(id)).not.toBe('read');
    const genuine = await send(metaSign(body));
    expect(genuine.status).toBe(200);
    expect(await statusOf(id)).toBe('read');
    expect((await send(metaSign(body))).status).toBe(200);
    const events = await courier.messages.events(id);
    expect(events.filter((e) => (e as { status?: string }).status === 'read')).toHaveLength(1);
  });

  it('EmailJS signed mode: genuine accepted once, replayed id deduplicated, forged and stale rejected', async () => {
    const body = JSON.stringify({ service_id: 'service_demo', template_id: 'template_contact', user_id: 'pk_demo', template_params: { from_name: 'Ana', reply_to: 'ana@example.test', message: 'Hi' } });
    const post = (id: string, ts: number, signature: string) =>
      fetch(`${server.url}${BASE}/webhooks/emailjs`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': signature },
      });
    const now = Math.floor(Date.now() / 1000);
    const forged = await post('sub_forged', now, standardSign('sub_forged', now, `${body} `));
    expect(forged.status).toBe(401);
    const stale = await post('sub_stale', now - 3600, standardSign('sub_stale', now - 3600, body));
    expect(stale.status).toBe(401);
    const genuine = await post('sub_0001', now, standardSign('sub_0001', now, body));
    expect(genuine.status).toBe(200);
    expect(await genuine.text()).toBe('OK');
    expect((await post('sub_0001', now, standardSign('sub_0001', now, body))).status).toBe(200);
    const page = await courier.listTasks({ name: 'process_emailjs_submission' });
    expect(page.tasks).toHaveLength(1);
  });

  it('provider webhook errors are problem+json: 401 for a bad signature, 404 unconfigured; the body cap is webhookBodyLimit', async () => {
    const forged = await fetch(`${server.url}${BASE}/webhooks/twilio`, { method: 'POST', body: 'MessageSid=SM1&MessageStatus=read', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'AAAA' } });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('content-type')).toBe('application/problem+json');
    expect(await forged.json()).toMatchObject({ type: 'urn:pgcourier:problem:unauthorized', status: 401, detail: expect.stringMatching(/X-Twilio-Signature/) });
    const meta = await fetch(`${server.url}${BASE}/webhooks/meta`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSign('{}', 'wrong') } });
    expect([meta.status, meta.headers.get('content-type')]).toEqual([401, 'application/problem+json']);
    // A genuine Meta webhook of 300 KiB passes a 512 KiB webhookBodyLimit: messaging applies the same cap, not a smaller one of its own.
    const wide = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, webhookBodyLimit: 512 * 1024 });
    const big = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(300 * 1024) });
    const ok = await call(wide, 'POST', `${BASE}/webhooks/meta`, { token: null, raw: big, headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSign(big) } });
    expect(ok.status).toBe(200);
    const tight = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, webhookBodyLimit: 64 * 1024 });
    await expectProblem(await call(tight, 'POST', `${BASE}/webhooks/meta`, { token: null, raw: big, headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSign(big) } }), 413);
  });

  it('EmailJS browser-compatible path: CORS preflight and a post from an allowed origin', async () => {
    const preflight = await fetch(`${server.url}${BASE}/api/v1.0/email/send`, {
      method: 'OPTIONS',
      headers: { origin: SITE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SITE);
    const res = await fetch(`${server.url}${BASE}/api/v1.0/email/send`, {
      method: 'POST',
      headers: { origin: SITE, 'content-type': 'application/json' },
      body: JSON.stringify({ lib_version: '4.4.1', service_id: 'default_service', template_id: 'template_contact', user_id: 'pk_demo', template_params: { submission_id: '0b7c2f3e-6a51-4c1e-9d2a-1f0e8c9b7a65', message: 'Hello' } }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('OK');
    expect((await fetch(`${server.url}${BASE}/api/v1.0/email/send`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);
  });
});
