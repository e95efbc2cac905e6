import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import { serveWeb } from '../peers/http.js';
import { signTwilio, startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { captureLogger, fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

let peer: TwilioPeer;
let web: Awaited<ReturnType<typeof serveWeb>>;
let courier: MessagingCourier;
const log = captureLogger();
let n = 0;
const number = () => `+1555${String(1_000_000 + ++n).slice(1)}`;

beforeAll(async () => {
  peer = await startTwilioPeer();
  web = await serveWeb({ '/twilio': (r) => courier.messages.webhooks.twilio(r) });
  courier = await messagingCourier(
    {
      twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: '+15550001111', baseUrl: peer.url, statusCallback: `${web.url}/twilio`, timeout: 5 },
      rateLimits: { sms: '50/s', whatsapp: '50/s' },
      sendTask: fastRetries,
    },
    { logger: log.logger },
  );
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await peer.close();
  await web.close();
});

describe('Twilio Programmable Messaging', () => {
  it('sends the documented form (Basic auth, To/From/Body/MediaUrl/StatusCallback) and follows status callbacks to delivered', async () => {
    const to = number();
    const id = await courier.messages.send({ channel: 'sms', to, body: 'Your code is 4821', media: ['https://cdn.example.test/a.png', 'https://cdn.example.test/b.png'] });
    const m = await waitForStatus(courier, id, ['delivered', 'failed', 'unknown']);
    expect(m.status).toBe('delivered');
    const create = peer.creates.find((c) => c.to === to);
    expect(create?.request.headers.authorization).toBe(`Basic ${Buffer.from(`${peer.accountSid}:${peer.authToken}`).toString('base64')}`);
    expect(create?.request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(create?.request.path).toBe(`/2010-04-01/Accounts/${peer.accountSid}/Messages.json`);
    expect([...(create?.form.keys() ?? [])]).toEqual(['To', 'From', 'Body', 'MediaUrl', 'MediaUrl', 'StatusCallback']);
    expect(create?.form.get('To')).toBe(to);
    expect(create?.form.get('From')).toBe('+15550001111');
    expect(create?.form.get('Body')).toBe('Your code is 4821');
    expect(create?.form.getAll('MediaUrl')).toEqual(['https://cdn.example.test/a.png', 'https://cdn.example.test/b.png']);
    expect(create?.form.get('StatusCallback')).toBe(`${web.url}/twilio?m=${id}`);
    expect(m.providerMessageId).toBe(create?.sid);
    expect(m.providerMessageId).toMatch(/^MM[0-9a-f]{32}$/);
    expect(m.deliveredAt).toBeInstanceOf(Date);
    const events = await courier.messages.events(id);
    // The two callbacks are separate requests (as with Twilio), so on a busy machine
    // 'sent' may arrive after 'delivered'; either way 'delivered' is the one applied last.
    expect(events.map((e) => `${e.source} ${e.status}`).sort()).toEqual(['twilio delivered', 'twilio sent']);
    expect(events.find((e) => e.status === 'delivered')?.applied).toBe(true);
  });

  it('429 with Retry-After: 2 delays the next attempt by at least 2 s without using a retry', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { status: 429, headers: { 'retry-after': '2' }, body: { code: 20429, message: 'Too Many Requests', status: 429 } } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'hello' });
    const m = await waitForStatus(courier, id, ['sent', 'delivered', 'failed', 'unknown'], 30_000);
    expect(['sent', 'delivered']).toContain(m.status);
    const creates = peer.creates.filter((c) => c.to === to);
    expect(creates).toHaveLength(2);
    expect((creates[1]?.request.at ?? 0) - (creates[0]?.request.at ?? 0)).toBeGreaterThanOrEqual(2000);
    const task = await taskRow(courier, m.taskId);
    expect(task).toMatchObject({ attempts: 2, deferrals: 1 });
    expect((task?.attempts ?? 0) - (task?.deferrals ?? 0)).toBe(1);
    expect((await courier.messages.attempts(id)).map((a) => a.outcome)).toEqual(['rate_limited', 'ok']);
  });

  it('21610 (STOP) fails the message and suppresses the recipient; a later send makes no request', async () => {
    const to = number();
    peer.optedOut.add(to);
    const id = await courier.messages.send({ channel: 'sms', to, body: 'promo' });
    const m = await waitForStatus(courier, id, ['failed', 'sent']);
    expect(m.error?.code).toBe('21610');
    expect(await courier.messages.suppression('sms', to)).toMatchObject({ code: '21610' });
    // The message is failed in the handler; the task's outcome is written after it returns.
    await waitFor(async () => (await taskRow(courier, m.taskId))?.status === 'failed', 10_000, 'the send task to settle as failed');
    const again = await courier.messages.send({ channel: 'sms', to, body: 'promo again' });
    expect((await waitForStatus(courier, again, ['failed', 'sent'])).error?.code).toBe('suppressed');
    expect(peer.creates.filter((c) => c.to === to)).toHaveLength(1);
  });

  it('a connection dropped after the request body is unknown, and never resent', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { drop: true } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'maybe' });
    const m = await waitForStatus(courier, id, ['unknown', 'sent', 'failed']);
    expect(m.status).toBe('unknown');
    expect(m.error?.code).toBeNull();
    // The worker keeps going: a later message is delivered, and the dropped one was not sent again.
    const later = await courier.messages.send({ channel: 'sms', to: number(), body: 'after' });
    await waitForStatus(courier, later, ['sent', 'delivered']);
    expect(peer.creates.filter((c) => c.to === to)).toHaveLength(1);
    expect((await taskRow(courier, m.taskId))?.status).toBe('succeeded');
    expect(await courier.messages.attempts(id)).toMatchObject([{ outcome: 'ambiguous' }]);
  });

  it('a 500 / 20500 on create is ambiguous too (Twilio: create is not idempotent)', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { status: 500, body: { code: 20500, message: 'Internal Server Error', status: 500 } } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'x' });
    expect((await waitForStatus(courier, id, ['unknown', 'sent', 'failed'])).status).toBe('unknown');
    expect(peer.creates.filter((c) => c.to === to)).toHaveLength(1);
  });

  it('status callbacks: forged ones are rejected, duplicates applied once, out-of-order never moves backwards', async () => {
    peer.duplicateCallbacks = true;
    peer.lifecycle = () => [
      { status: 'delivered', delay: 10 },
      { status: 'sent', delay: 80 },
      { status: 'queued', delay: 120 },
    ];
    try {
      const id = await courier.messages.send({ channel: 'sms', to: number(), body: 'order' });
      await waitFor(async () => (await courier.messages.events(id)).length === 3 && peer.callbacks.filter((c) => c.url.includes(id)).length === 6, 10_000, 'six callbacks');
      const m = await courier.messages.get(id);
      expect(m?.status).toBe('delivered');
      const events = await courier.messages.events(id);
      expect(events.map((e) => [e.status, e.applied])).toEqual([
        ['delivered', true],
        ['sent', false],
        ['sent', false],
      ]);
      expect(peer.callbacks.filter((c) => c.url.includes(id)).every((c) => c.status === 200)).toBe(true);

      // A forged callback (wrong token) claiming 'read' is refused and changes nothing.
      const url = `${web.url}/twilio?m=${id}`;
      const params = { MessageSid: m?.providerMessageId ?? '', MessageStatus: 'read', AccountSid: peer.accountSid };
      const forged = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio('not-the-token', url, params) },
        body: new URLSearchParams(params).toString(),
      });
      expect(forged.status).toBe(401);
      const tampered = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio(peer.authToken, url, { ...params, MessageStatus: 'sent' }) },
        body: new URLSearchParams(params).toString(),
      });
      expect(tampered.status).toBe(401);
      expect((await courier.messages.get(id))?.status).toBe('delivered');
      // The genuine one is accepted.
      const genuine = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio(peer.authToken, url, params) },
        body: new URLSearchParams(params).toString(),
      });
      expect(genuine.status).toBe(200);
      expect((await courier.messages.get(id))?.status).toBe('read');
    } finally {
      peer.duplicateCallbacks = false;
      peer.lifecycle = () => [
        { status: 'sent', delay: 20 },
        { status: 'delivered', delay: 60 },
      ];
    }
  });

  it('an undelivered callback with a recipient error code suppresses the recipient', async () => {
    const to = number();
    peer.lifecycle = (c) => (c.to === to ? [{ status: 'undelivered', delay: 20, errorCode: 30006 }] : [{ status: 'delivered', delay: 20 }]);
    try {
      const id = await courier.messages.send({ channel: 'sms', to, body: 'landline?' });
      const m = await waitForStatus(courier, id, ['undelivered']);
      expect(m.error?.code).toBe('30006');
      expect(await courier.messages.suppression('sms', to)).toMatchObject({ code: '30006' });
    } finally {
      peer.lifecycle = () => [
        { status: 'sent', delay: 20 },
        { status: 'delivered', delay: 60 },
      ];
    }
  });

  it("WhatsApp over Twilio's whatsapp: channel, with a content-template follow-up after 63016", async () => {
    const to = number();
    peer.lifecycle = (c) => (c.to === `whatsapp:${to}` && c.form.get('Body') ? [{ status: 'failed', delay: 20, errorCode: 63016 }] : [{ status: 'delivered', delay: 20 }]);
    try {
      const contentSid = `HX${'b'.repeat(32)}`;
      const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'Your order shipped', provider: 'twilio', fallback: { template: { contentSid }, variables: { 1: 'Ana' } } });
      const m = await waitForStatus(courier, id, ['failed']);
      expect(m.error?.code).toBe('63016');
      const first = peer.creates.find((c) => c.to === `whatsapp:${to}`);
      expect(first?.form.get('From')).toBe('whatsapp:+15550001111');
      const follow = await waitFor(async () => {
        const { rows } = await courier.pool.query<{ id: string }>(`SELECT id FROM "${courier.schema}".messages WHERE parent_id = $1`, [id]);
        return rows[0]?.id;
      });
      const f = await waitForStatus(courier, follow, ['delivered']);
      expect(f.parentId).toBe(id);
      const second = peer.creates.filter((c) => c.to === `whatsapp:${to}`)[1];
      expect(second?.form.get('ContentSid')).toBe(contentSid);
      expect(second?.form.get('ContentVariables')).toBe('{"1":"Ana"}');
      expect(second?.form.get('Body')).toBeNull();
    } finally {
      peer.lifecycle = () => [
        { status: 'sent', delay: 20 },
        { status: 'delivered', delay: 60 },
      ];
    }
  });

  it('the auth token never appears in logs, stored errors or task errors', async () => {
    const { rows } = await courier.pool.query(`SELECT string_agg(coalesce(last_error, '') || errors::text, ' ') AS t FROM "${courier.schema}".tasks`);
    expect(String(rows[0].t)).not.toContain(peer.authToken);
    expect(log.text()).not.toContain(peer.authToken);
    const basic = Buffer.from(`${peer.accountSid}:${peer.authToken}`).toString('base64');
    expect(log.text()).not.toContain(basic);
  });
});

describe('Twilio configuration errors', () => {
  it('a wrong token (401 / 20003) pauses the provider once instead of burning attempts', async () => {
    const capture = captureLogger();
    const bad = 'definitely-wrong-token-123';
    const c = await messagingCourier(
      { twilio: { accountSid: peer.accountSid, authToken: bad, from: '+15550001111', baseUrl: peer.url, timeout: 5 }, sendTask: { ...fastRetries, maxRetries: 0 } },
      { logger: capture.logger },
    );
    try {
      const ids = [await c.messages.send({ channel: 'sms', to: number(), body: 'a' }), await c.messages.send({ channel: 'sms', to: number(), body: 'b' })];
      await c.start({ pollInterval: 0.1, concurrency: 1 });
      for (const id of ids) await waitForStatus(c, id, ['pending']);
      const errors = capture.lines.map((l) => JSON.parse(l)).filter((l) => l.level >= 50);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ provider: 'twilio', code: '20003' });
      const paused = await c.messages.pausedProviders();
      expect(paused[0]?.key).toBe(`twilio:sms:${peer.accountSid}:+15550001111`);
      for (const id of ids) {
        const taskId = (await c.messages.get(id))?.taskId ?? null;
        await waitFor(async () => (await taskRow(c, taskId))?.status === 'queued', 5000, 'task deferred');
      }
      expect(capture.text()).not.toContain(bad);
    } finally {
      await c.close({ grace: 1 });
    }
  });
});
