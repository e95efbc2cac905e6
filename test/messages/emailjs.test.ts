import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { standardWebhookSignature } from '../../src/messages/signatures.js';
import { waitFor } from '../helpers/db.js';
import { type CaptchaPeer, startCaptchaPeer } from '../peers/captcha.js';
import { serveWeb } from '../peers/http.js';
import { type SmtpPeer, startSmtpPeer } from '../peers/smtp.js';
import { captureLogger, fastRetries, messagingCourier } from './helpers.js';

const SITE = 'https://site.example';
const SECRET = 'whsec_cGdjb3VyaWVyLXRlc3Qtc2VjcmV0LTAwMDE=';
const PRIVATE = 'emailjs-private-key-0001';
let smtp: SmtpPeer;
let web: Awaited<ReturnType<typeof serveWeb>>;
let courier: MessagingCourier;
const log = captureLogger();

beforeAll(async () => {
  smtp = await startSmtpPeer({ users: { courier: 'pw-for-smtp' } });
  web = await serveWeb({
    '/api/v1.0/email': (r) => courier.messages.webhooks.emailjs(r),
    '/hooks/emailjs': (r) => courier.messages.webhooks.emailjs(r),
  });
  courier = await messagingCourier(
    {
      smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'pw-for-smtp' }, from: 'forms@acme.test', tls: { ca: smtp.cert.cert }, timeout: 5 },
      emailjs: {
        publicKeys: ['pk_demo'],
        privateKey: PRIVATE,
        webhookSecret: SECRET,
        allowedOrigins: [SITE],
        rateLimit: '3/m',
        trustProxy: true,
        notify: { to: 'team@acme.test' },
        autoReply: { subject: 'Thanks {{from_name}}', text: 'We got your message, {{from_name}}.' },
      },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    },
    { logger: log.logger },
  );
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await smtp.close();
  await web.close();
});

/** Exactly what @emailjs/browser 4.x sends from `send()` when `origin` points at us. */
function browserSend(params: Record<string, unknown>, options: { origin?: string; ip?: string; userId?: string } = {}) {
  return fetch(`${web.url}/api/v1.0/email/send`, {
    method: 'POST',
    headers: { 'Content-type': 'application/json', ...(options.origin !== undefined ? { origin: options.origin } : { origin: SITE }), 'x-forwarded-for': options.ip ?? randomIp() },
    body: JSON.stringify({ lib_version: '4.4.1', user_id: options.userId ?? 'pk_demo', service_id: 'service_demo', template_id: 'template_contact', template_params: params }),
  });
}
let ipn = 0;
const randomIp = () => `10.0.0.${++ipn}`;

async function submissions(): Promise<Array<{ dedupe_key: string; params: Record<string, unknown>; auth_mode: string; notify_message_id: string | null; reply_message_id: string | null; verified: boolean; reply_note: string | null }>> {
  const { rows } = await courier.pool.query(`SELECT * FROM "${courier.schema}".submissions ORDER BY created_at`);
  return rows;
}

describe('EmailJS-compatible endpoint', () => {
  it('accepts a browser post as @emailjs/browser sends it, stores it once and notifies the team; an unverified post gets no auto-reply', async () => {
    const sid = randomUUID();
    const res = await browserSend({ submission_id: sid, from_name: 'Ana <b>', reply_to: 'ana@example.test', message: 'Hi there\nsecond line' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('OK');
    expect(res.headers.get('access-control-allow-origin')).toBe(SITE);
    const sub = await waitFor(async () => (await submissions()).find((s) => s.dedupe_key === `sid:${sid}` && s.notify_message_id));
    expect(sub).toMatchObject({ auth_mode: 'browser', params: { from_name: 'Ana <b>', message: 'Hi there\nsecond line' } });
    // Quoted-printable soft line breaks removed.
    const text = (m: { raw: Buffer }) => m.raw.toString().replace(/=\r\n/g, '');
    const team = await waitFor(() => smtp.received.find((m) => m.rcptTo.includes('team@acme.test') && text(m).includes(sid)));
    expect(text(team)).toContain('Subject: New form submission: template_contact');
    expect(text(team)).toContain('<th align=3D"left">from_name</th><td>Ana &#60;b&#62;</td>');
    expect(text(team)).toContain('from_name: Ana <b>');
    // An Origin header proves nothing: without a CAPTCHA the submitter's address gets no mail from us.
    expect(sub).toMatchObject({ reply_message_id: null, verified: false, reply_note: 'not verified and not an allowed recipient' });
    expect(smtp.received.some((m) => m.rcptTo.includes('ana@example.test'))).toBe(false);
  });

  it('a duplicate submission (same submission_id) answers OK and is stored and notified once', async () => {
    const sid = randomUUID();
    for (let i = 0; i < 2; i++) expect((await browserSend({ submission_id: sid, from_name: 'Bo', message: 'dup' })).status).toBe(200);
    await waitFor(async () => (await submissions()).some((s) => s.dedupe_key === `sid:${sid}` && s.notify_message_id));
    const { rows } = await courier.pool.query(`SELECT status, result FROM "${courier.schema}".tasks WHERE name = 'process_emailjs_submission' AND payload->>'dedupeKey' = $1`, [`sid:${sid}`]);
    await waitFor(async () => {
      const r = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".tasks WHERE name = 'process_emailjs_submission' AND payload->>'dedupeKey' = $1 AND status = 'succeeded'`, [`sid:${sid}`]);
      return r.rows[0].n === rows.length;
    });
    expect((await submissions()).filter((s) => s.dedupe_key === `sid:${sid}`)).toHaveLength(1);
    const { rows: notes } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".messages WHERE recipient = 'team@acme.test' AND body LIKE $1`, [`%${sid}%`]);
    expect(notes[0].n).toBe(1);
  });

  it('CORS: preflight from an allowed origin, refusal otherwise; posts from other origins are refused', async () => {
    const pre = await fetch(`${web.url}/api/v1.0/email/send`, { method: 'OPTIONS', headers: { origin: SITE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(SITE);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/content-type/i);
    const other = await fetch(`${web.url}/api/v1.0/email/send`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(403);
    expect((await browserSend({ message: 'x' }, { origin: 'https://evil.example' })).status).toBe(403);
  });

  it('refuses unknown public keys, bad JSON, missing fields and oversized bodies', async () => {
    expect((await browserSend({ message: 'x' }, { userId: 'pk_other' })).status).toBe(403);
    const bad = await fetch(`${web.url}/api/v1.0/email/send`, { method: 'POST', headers: { origin: SITE, 'content-type': 'application/json', 'x-forwarded-for': randomIp() }, body: '{nope' });
    expect(bad.status).toBe(400);
    const missing = await fetch(`${web.url}/api/v1.0/email/send`, {
      method: 'POST',
      headers: { origin: SITE, 'content-type': 'application/json', 'x-forwarded-for': randomIp() },
      body: JSON.stringify({ user_id: 'pk_demo', service_id: 's', template_params: {} }),
    });
    expect(missing.status).toBe(400);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(await missing.json()).toMatchObject({ status: 400, detail: 'The template_id parameter is invalid' });
    const big = await browserSend({ message: 'x'.repeat(70_000) });
    expect(big.status).toBe(413);
  });

  it('rate-limits browser posts per client IP (3/m) with Retry-After', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await courier.messages.webhooks.emailjs(
        new Request(`${web.url}/api/v1.0/email/send`, {
          method: 'POST',
          headers: { origin: SITE, 'content-type': 'application/json' },
          body: JSON.stringify({ user_id: 'pk_demo', service_id: 's', template_id: 't', template_params: { n: i, submission_id: randomUUID() } }),
        }),
        { ip: '192.0.2.77' },
      );
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('server posts need the private key (EmailJS non-browser rule)', async () => {
    const body = (token?: string) => JSON.stringify({ user_id: 'pk_demo', service_id: 's', template_id: 't', ...(token ? { accessToken: token } : {}), template_params: { submission_id: randomUUID() } });
    const none = await fetch(`${web.url}/api/v1.0/email/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body() });
    expect([none.status, ((await none.json()) as { detail: string }).detail]).toEqual([403, 'API calls are disabled for non-browser applications']);
    expect((await fetch(`${web.url}/api/v1.0/email/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('wrong-key') })).status).toBe(403);
    expect((await fetch(`${web.url}/api/v1.0/email/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(PRIVATE) })).status).toBe(200);
    const stored = await waitFor(async () => (await submissions()).find((s) => s.auth_mode === 'private_key'));
    expect(JSON.stringify(stored)).not.toContain(PRIVATE);
  });

  it('signed server-to-server posts (Standard Webhooks): valid accepted and de-duplicated by webhook-id, forged or stale refused', async () => {
    const raw = JSON.stringify({ service_id: 'service_demo', template_id: 'template_contact', user_id: 'pk_demo', template_params: { from_name: 'Cy', message: 'signed' } });
    const ts = Math.floor(Date.now() / 1000);
    const id = `sub_${randomUUID()}`;
    const post = (headers: Record<string, string>) => fetch(`${web.url}/hooks/emailjs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
    const good = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': standardWebhookSignature(SECRET, id, ts, raw) };
    expect((await post(good)).status).toBe(200);
    expect((await post(good)).status).toBe(200);
    expect((await post({ ...good, 'webhook-signature': standardWebhookSignature('whsec_b3RoZXI=', id, ts, raw) })).status).toBe(401);
    const stale = ts - 3600;
    expect((await post({ ...good, 'webhook-timestamp': String(stale), 'webhook-signature': standardWebhookSignature(SECRET, id, stale, raw) })).status).toBe(401);
    await waitFor(async () => (await submissions()).some((s) => s.dedupe_key === `wh:${id}` && s.notify_message_id));
    await new Promise((r) => setTimeout(r, 300));
    expect((await submissions()).filter((s) => s.dedupe_key === `wh:${id}`)).toMatchObject([{ auth_mode: 'signed' }]);
  });

  it('accepts the multipart send-form variant', async () => {
    const form = new FormData();
    for (const [k, v] of Object.entries({ lib_version: '4.4.1', service_id: 'service_demo', template_id: 'template_form', user_id: 'pk_demo', from_name: 'Di', message: 'via form' })) form.append(k, v);
    const res = await fetch(`${web.url}/api/v1.0/email/send-form`, { method: 'POST', headers: { origin: SITE, 'x-forwarded-for': randomIp() }, body: form });
    expect(res.status).toBe(200);
    const sub = await waitFor(async () => (await submissions()).find((s) => (s.params as { message?: string }).message === 'via form'));
    expect(sub.params).toEqual({ from_name: 'Di', message: 'via form' });
    expect(sub.dedupe_key).toMatch(/^hash:\d{4}-\d{2}-\d{2}:[0-9a-f]{64}$/);
  });

  it('the task validates its payload with zod: an invalid one is refused at enqueue, naming the field', async () => {
    await expect(courier.enqueueTask('process_emailjs_submission', { submission: { service_id: 's' } })).rejects.toThrow(/payload\.submission\.template_id/);
  });

  it('secrets never reach the log', () => {
    for (const s of [PRIVATE, SECRET, 'pw-for-smtp']) expect(log.text()).not.toContain(s);
  });
});

describe('EmailJS endpoint abuse controls (CAPTCHA, honeypot, allow-list, caps)', () => {
  let captcha: CaptchaPeer;
  let c: MessagingCourier;
  let site: Awaited<ReturnType<typeof serveWeb>>;
  const received = (to: string) => smtp.received.filter((m) => m.rcptTo.includes(to));

  beforeAll(async () => {
    captcha = await startCaptchaPeer();
    site = await serveWeb({ '/api/v1.0/email': (r) => c.messages.webhooks.emailjs(r, { ip: '198.51.100.7' }) });
    c = await messagingCourier({
      smtp: { host: '127.0.0.1', port: smtp.port, auth: { user: 'courier', pass: 'pw-for-smtp' }, from: 'forms@acme.test', tls: { ca: smtp.cert.cert }, timeout: 5 },
      emailjs: {
        publicKeys: ['pk_demo'],
        allowedOrigins: [SITE],
        rateLimit: '100/m',
        notify: { to: 'team@acme.test' },
        autoReply: { subject: 'Thanks {{from_name}}', text: 'We got it, {{from_name}}.', allowedRecipients: ['@partner.example'], perRecipient: '2/h' },
        captcha: { provider: 'turnstile', secret: captcha.secret, verifyUrl: captcha.verifyUrl, required: false, hostnames: ['site.example'] },
        submissionLimit: '12/h',
      },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    });
    await c.start({ pollInterval: 0.1, concurrency: 4 });
  });
  afterAll(async () => {
    await c.close({ grace: 1 });
    await site.close();
    await captcha.close();
  });

  const post = (params: Record<string, unknown>) =>
    fetch(`${site.url}/api/v1.0/email/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: SITE },
      body: JSON.stringify({ lib_version: '4.4.1', user_id: 'pk_demo', service_id: 'service_demo', template_id: 'template_contact', template_params: { submission_id: randomUUID(), ...params } }),
    });
  const stored = async (sid: string) =>
    waitFor(async () => {
      const { rows } = await c.pool.query(`SELECT * FROM "${c.schema}".submissions WHERE params->>'marker' = $1 AND notify_message_id IS NOT NULL`, [sid]);
      return rows[0];
    });

  it('a post with a token the CAPTCHA service confirms is verified and gets the auto-reply; the token is checked server-side once', async () => {
    const token = captcha.solve();
    const res = await post({ marker: 'm1', from_name: 'Ana\r\nBcc: x@evil.example', reply_to: 'ana.verified@example.test', 'cf-turnstile-response': token });
    expect([res.status, await res.text()]).toEqual([200, 'OK']);
    const sub = await stored('m1');
    expect(sub).toMatchObject({ verified: true, reply_note: null });
    expect(sub.params).not.toHaveProperty('cf-turnstile-response');
    const verify = new URLSearchParams(captcha.requests.at(-1)?.raw.toString());
    expect(Object.fromEntries(verify)).toEqual({ secret: captcha.secret, response: token, remoteip: '198.51.100.7' });
    const reply = await waitFor(() => received('ana.verified@example.test')[0]);
    expect(reply.raw.toString()).toContain('Subject: Thanks Ana Bcc: x@evil.example');
    expect(reply.rcptTo).toEqual(['ana.verified@example.test']);
    // The same token again: the service says no, and so do we.
    const replay = await post({ marker: 'm1b', reply_to: 'ana.verified@example.test', 'cf-turnstile-response': token });
    expect(replay.status).toBe(403);
    expect(await replay.json()).toMatchObject({ type: 'urn:pgcourier:problem:forbidden', detail: expect.stringMatching(/CAPTCHA verification failed.*invalid-input-response/) });
  });

  it('a token solved on another site is refused; an unreachable service answers 503 with Retry-After', async () => {
    expect((await post({ marker: 'm2', 'cf-turnstile-response': captcha.solve({ hostname: 'evil.example' }) })).status).toBe(403);
    captcha.down = true;
    try {
      const res = await post({ marker: 'm3', 'cf-turnstile-response': captcha.solve() });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
    } finally {
      captcha.down = false;
    }
  });

  it('without a token (captcha not required) the submission is stored unverified: the team hears of it, the address named in it does not', async () => {
    expect((await post({ marker: 'm4', reply_to: 'victim@example.test' })).status).toBe(200);
    expect(await stored('m4')).toMatchObject({ verified: false, reply_message_id: null, reply_note: 'not verified and not an allowed recipient' });
    expect(received('victim@example.test')).toHaveLength(0);
  });

  it('allowed recipients get replies without verification, at most perRecipient of them', async () => {
    for (const m of ['m5', 'm6', 'm7']) expect((await post({ marker: m, from_name: 'Buyer', reply_to: 'Buyer@Partner.example' })).status).toBe(200);
    const notes = [];
    for (const m of ['m5', 'm6', 'm7']) notes.push((await stored(m)).reply_note);
    expect(notes.sort()).toEqual([null, null, 'per-recipient auto-reply cap reached'].sort());
    await waitFor(() => received('buyer@partner.example').length === 2, 10_000, 'two replies');
  });

  it('a filled honeypot field is answered OK and dropped', async () => {
    const before = (await c.pool.query(`SELECT count(*)::int AS n FROM "${c.schema}".submissions`)).rows[0].n;
    const res = await post({ marker: 'bot', _honeypot: 'http://spam.example', reply_to: 'victim2@example.test' });
    expect([res.status, await res.text()]).toEqual([200, 'OK']);
    expect((await c.listTasks({ name: 'process_emailjs_submission' })).tasks.some((t) => JSON.stringify(t.payload).includes('"marker":"bot"'))).toBe(false);
    expect((await c.pool.query(`SELECT count(*)::int AS n FROM "${c.schema}".submissions`)).rows[0].n).toBe(before);
  });

  it('all submissions share a global cap (submissionLimit): beyond it 429 problem+json', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post({ marker: `flood${i}` })).status);
    expect(statuses).toContain(429);
    const last = await post({ marker: 'flood-last' });
    expect(last.status).toBe(429);
    expect(last.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
