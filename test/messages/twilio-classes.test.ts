// Twilio answers classified by who is at fault (issue 14): one recipient or one
// pair fails one message, capacity is a long pause, transient delivery failures
// get a linked new attempt, every deferral is bounded; plus HMAC-SHA256 webhook
// signing, inbound STOP / START / HELP and the pause re-checked after a rate grant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import { serveWeb } from '../peers/http.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { captureLogger, fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

const SIGNING_KEY = 'twilio-webhooks-shared-key-secret-0001';
let peer: TwilioPeer;
let web: Awaited<ReturnType<typeof serveWeb>>;
let courier: MessagingCourier;
const log = captureLogger();
let n = 0;
const number = () => `+1555${String(2_000_000 + ++n).slice(1)}`;
const FROM = '+15550001111';
const deliveredOnly = () => [{ status: 'delivered', delay: 20 }];

beforeAll(async () => {
  peer = await startTwilioPeer();
  web = await serveWeb({ '/twilio': (r) => courier.messages.webhooks.twilio(r) });
  courier = await messagingCourier(
    {
      twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: FROM, baseUrl: peer.url, statusCallback: `${web.url}/twilio`, webhookSigningKey: SIGNING_KEY, timeout: 5 },
      rateLimits: { sms: '50/s', whatsapp: '50/s' },
      sendTask: fastRetries,
      deliveryRetries: { max: 2, delay: 0.2 },
    },
    { logger: log.logger },
  );
  peer.lifecycle = deliveredOnly;
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await peer.close();
  await web.close();
});

const gateKey = (from = FROM) => `twilio:sms:${peer.accountSid}:${from}`;
const creates = (to: string) => peer.creates.filter((c) => c.to === to);

describe('one recipient, one pair, one region: the message fails, nothing else stops', () => {
  it('21608 (unverified To on a trial account) fails that message only: no pause, no suppression, the batch finishes', async () => {
    const bad = number();
    const good = [number(), number()];
    peer.script({ match: (c) => c.to === bad, times: 5, action: { status: 400, body: { code: 21608, message: 'The number is unverified. Trial accounts cannot send messages to unverified numbers', status: 400 } } });
    const batchId = await courier.messages.sendBulk({ channel: 'sms', recipients: [bad, ...good], template: 'Hi' });
    const final = await courier.messages.batch(batchId).done({ timeout: 20 });
    expect(final).toMatchObject({ total: 3, completed: 2, failed: 1, active: 0 });
    expect(creates(bad)).toHaveLength(1);
    expect(await courier.messages.pausedProviders()).toEqual([]);
    expect(await courier.messages.suppression('sms', bad)).toBeNull();
  });

  it('21408 (region not enabled) fails the message without pausing the sender', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { status: 400, body: { code: 21408, message: 'Permission to send an SMS has not been enabled for the region', status: 400 } } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'x' });
    expect((await waitForStatus(courier, id, ['failed', 'sent', 'delivered'])).error?.code).toBe('21408');
    expect(await courier.messages.pausedProviders()).toEqual([]);
    const later = await courier.messages.send({ channel: 'sms', to: number(), body: 'y' });
    expect((await waitForStatus(courier, later, ['sent', 'delivered', 'failed'])).status).not.toBe('failed');
  });

  it('21612 (this To/From pair cannot be used) suppresses nobody: the recipient is still reachable', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { status: 400, body: { code: 21612, message: "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.", status: 400 } } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'x' });
    expect((await waitForStatus(courier, id, ['failed', 'sent', 'delivered'])).error?.code).toBe('21612');
    expect(await courier.messages.suppression('sms', to)).toBeNull();
    const again = await courier.messages.send({ channel: 'sms', to, body: 'y', from: '+15550003333' });
    expect((await waitForStatus(courier, again, ['sent', 'delivered', 'failed'])).status).not.toBe('failed');
    expect(creates(to)).toHaveLength(2);
  });

  it('21610 (STOP) suppresses the pair: the same sender never sends again, another sender still may', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { status: 400, body: { code: 21610, message: 'Attempt to send to unsubscribed recipient', status: 400 } } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'promo' });
    await waitForStatus(courier, id, ['failed']);
    expect(await courier.messages.suppression('sms', to)).toMatchObject({ code: '21610', sender: FROM });
    const same = await courier.messages.send({ channel: 'sms', to, body: 'promo again' });
    expect((await waitForStatus(courier, same, ['failed', 'sent', 'delivered'])).error?.code).toBe('suppressed');
    const other = await courier.messages.send({ channel: 'sms', to, body: 'from the clinic line', from: '+15550004444' });
    expect((await waitForStatus(courier, other, ['sent', 'delivered', 'failed'])).status).not.toBe('failed');
    expect(creates(to).map((c) => c.form.get('From'))).toEqual([FROM, '+15550004444']);
  });
});

describe('capacity is a long pause, not a failure', () => {
  it('21611 (the From number has over 10 hours of queued messages) pauses that sender for an hour and defers the message', async () => {
    const from = '+15550005555';
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { status: 400, body: { code: 21611, message: "This 'From' number has exceeded the maximum number of queued messages", status: 400 } } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'x', from });
    const m = await waitFor(async () => {
      const got = await courier.messages.get(id);
      return got && (await courier.messages.attempts(id)).length === 1 && got.status === 'pending' ? got : null;
    });
    expect((await courier.messages.attempts(id))[0]).toMatchObject({ outcome: 'rate_limited', error: { code: '21611' } });
    const gate = (await courier.messages.pausedProviders()).find((g) => g.key === gateKey(from));
    expect(gate?.seconds).toBeGreaterThan(3500);
    const task = await waitFor(async () => {
      const t = await taskRow(courier, m.taskId);
      return t?.status === 'queued' ? t : null;
    });
    expect(task.run_at.getTime() - Date.now()).toBeGreaterThan(3000 * 1000);
    expect(task.attempts - task.deferrals).toBe(0);
    await courier.messages.resumeProvider(gateKey(from));
  });
});

describe('errors that arrive only by status callback', () => {
  it('30003 (unreachable handset) gets a new linked attempt, at most deliveryRetries.max of them', async () => {
    const to = number();
    peer.lifecycle = (c) => (c.to === to ? [{ status: 'undelivered', delay: 10, errorCode: 30003 }] : deliveredOnly());
    try {
      const id = await courier.messages.send({ channel: 'sms', to, body: 'Your code is 1234' });
      const chain = await waitFor(
        async () => {
          const { rows } = await courier.pool.query<{ id: string; parent_id: string | null; relation: string | null; status: string }>(
            `SELECT id, parent_id, relation, status FROM "${courier.schema}".messages WHERE recipient = $1 ORDER BY created_at`,
            [to],
          );
          return rows.length === 3 && rows.every((r) => r.status === 'undelivered') ? rows : null;
        },
        15_000,
        'the original and two retries undelivered',
      );
      expect(chain.map((r) => [r.relation, r.parent_id])).toEqual([
        [null, null],
        ['webhook_retry', id],
        ['webhook_retry', chain[1]?.id],
      ]);
      expect(creates(to).map((c) => c.form.get('Body'))).toEqual(['Your code is 1234', 'Your code is 1234', 'Your code is 1234']);
      expect((await courier.messages.get(chain[1]?.id as string))?.relation).toBe('webhook_retry');
      // No fourth message appears once the budget is used.
      await waitFor(async () => peer.settled(), 5000, 'callbacks settled');
      const { rows } = await courier.pool.query(`SELECT 1 FROM "${courier.schema}".messages WHERE recipient = $1`, [to]);
      expect(rows).toHaveLength(3);
    } finally {
      peer.lifecycle = deliveredOnly;
    }
  });

  it('30007 (carrier filtering) by callback is final: no new attempt', async () => {
    const to = number();
    peer.lifecycle = (c) => (c.to === to ? [{ status: 'undelivered', delay: 10, errorCode: 30007 }] : deliveredOnly());
    try {
      const id = await courier.messages.send({ channel: 'sms', to, body: 'x' });
      await waitForStatus(courier, id, ['undelivered']);
      await waitFor(async () => peer.settled(), 5000, 'callbacks settled');
      const { rows } = await courier.pool.query(`SELECT 1 FROM "${courier.schema}".messages WHERE parent_id = $1`, [id]);
      expect(rows).toHaveLength(0);
    } finally {
      peer.lifecycle = deliveredOnly;
    }
  });
});

describe('template kind checked against the provider at send()', () => {
  it('a WhatsApp Cloud template through Twilio, or several WhatsApp media, are refused naming the field', async () => {
    await expect(courier.messages.send({ channel: 'sms', to: number(), template: { name: 'order_shipped', language: 'en_US' } })).rejects.toThrow(ValidationError);
    await expect(courier.messages.send({ channel: 'sms', to: number(), template: { name: 'order_shipped' } })).rejects.toThrow(/template.*Content template/);
    await expect(courier.messages.sendBulk({ channel: 'whatsapp', recipients: [number()], template: { name: 'order_shipped' } })).rejects.toThrow(/template/);
    await expect(courier.messages.send({ channel: 'whatsapp', to: number(), body: 'x', media: ['https://cdn.test/a.png', 'https://cdn.test/b.png'] })).rejects.toThrow(/media.*one media file/);
    await expect(courier.messages.send({ channel: 'email', to: 'a@example.test', template: { contentSid: `HX${'c'.repeat(32)}` } })).rejects.toThrow(/template/);
  });

  it('a message enqueued where no provider was configured fails at send time instead of going out empty', async () => {
    const c = await messagingCourier({ sendTask: fastRetries });
    try {
      const to = number();
      // An enqueue-only process has no provider to ask: the template kind cannot be checked yet.
      const id = await c.messages.send({ channel: 'whatsapp', to, template: { name: 'order_shipped', language: 'en_US' } });
      c.messages.configure({ twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: FROM, baseUrl: peer.url, timeout: 5 }, sendTask: fastRetries });
      await c.start({ pollInterval: 0.1 });
      const m = await waitForStatus(c, id, ['failed', 'sent', 'delivered']);
      expect(m.error).toMatchObject({ code: 'content', message: expect.stringMatching(/Content template/) });
      expect(creates(`whatsapp:${to}`)).toHaveLength(0);
    } finally {
      await c.close({ grace: 1 });
    }
  });
});

describe('webhook signatures', () => {
  it('accepts callbacks signed with HMAC-SHA256 by a Webhooks Setting (X-Twilio-Webhooks-Signature-Settings), refuses forged ones with 401', async () => {
    peer.webhookSetting = { keySid: 'KS00000000000000000000000000000001', secret: SIGNING_KEY, algorithm: 'HMAC_SHA256' };
    try {
      const id = await courier.messages.send({ channel: 'sms', to: number(), body: 'signed with sha256' });
      expect((await waitForStatus(courier, id, ['delivered'])).status).toBe('delivered');
      expect(peer.callbacks.filter((c) => c.url.includes(id)).map((c) => c.status)).toEqual([200]);
      // The same algorithm with the wrong key, or the auth token under the settings header: refused.
      peer.webhookSetting = { keySid: 'KS00000000000000000000000000000001', secret: 'not-the-shared-key', algorithm: 'HMAC_SHA256' };
      const forged = await courier.messages.send({ channel: 'sms', to: number(), body: 'forged' });
      await waitFor(async () => peer.callbacks.some((c) => c.url.includes(forged)), 5000, 'callback posted');
      const hit = peer.callbacks.find((c) => c.url.includes(forged));
      expect(hit?.status).toBe(401);
      expect((await courier.messages.get(forged))?.status).toBe('sent');
      const res = await fetch(`${web.url}/twilio?m=${forged}`, { method: 'POST', body: 'MessageStatus=read', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ type: 'urn:pgcourier:problem:unauthorized', status: 401 });
    } finally {
      peer.webhookSetting = null;
    }
  });
});

describe('inbound messages', () => {
  it('STOP suppresses the recipient for the number it was sent to, HELP is recorded, START lifts the suppression', async () => {
    const customer = number();
    const url = `${web.url}/twilio`;
    const stop = await peer.inbound(url, { from: customer, to: FROM, body: ' Stop ' });
    expect(stop).toEqual({ status: 200, body: expect.stringContaining('<Response/>') });
    expect(await courier.messages.suppression('sms', customer)).toMatchObject({ sender: FROM, code: 'inbound_stop' });
    const blocked = await courier.messages.send({ channel: 'sms', to: customer, body: 'promo' });
    expect((await waitForStatus(courier, blocked, ['failed', 'sent', 'delivered'])).error?.code).toBe('suppressed');
    const other = await courier.messages.send({ channel: 'sms', to: customer, body: 'from the clinic line', from: '+15550006666' });
    expect((await waitForStatus(courier, other, ['sent', 'delivered', 'failed'])).status).not.toBe('failed');
    expect(creates(customer).map((c) => c.form.get('From'))).toEqual(['+15550006666']);

    expect((await peer.inbound(url, { from: customer, to: FROM, body: 'help' })).status).toBe(200);
    expect((await peer.inbound(url, { from: customer, to: FROM, body: 'UNSTOP' })).status).toBe(200);
    expect(await courier.messages.suppression('sms', customer)).toBeNull();
    const { rows } = await courier.pool.query<{ keyword: string | null; sender: string }>(
      `SELECT keyword, sender FROM "${courier.schema}".inbound_messages WHERE recipient = $1 ORDER BY id`,
      [customer],
    );
    expect(rows).toEqual([
      { keyword: 'stop', sender: FROM },
      { keyword: 'help', sender: FROM },
      { keyword: 'start', sender: FROM },
    ]);
    const again = await courier.messages.send({ channel: 'sms', to: customer, body: 'welcome back' });
    expect((await waitForStatus(courier, again, ['sent', 'delivered', 'failed'])).status).not.toBe('failed');
  });

  it("Twilio's OptOutType decides for words outside the default list; a forged inbound STOP changes nothing", async () => {
    const customer = number();
    await peer.inbound(`${web.url}/twilio`, { from: customer, to: FROM, body: 'arrêt', optOutType: 'STOP' });
    expect(await courier.messages.suppression('sms', customer)).toMatchObject({ sender: FROM });
    const victim = number();
    const res = await fetch(`${web.url}/twilio`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'AAAA' },
      body: new URLSearchParams({ MessageSid: 'SM1', SmsStatus: 'received', From: victim, To: FROM, Body: 'STOP' }).toString(),
    });
    expect(res.status).toBe(401);
    expect(await courier.messages.suppression('sms', victim)).toBeNull();
  });
});

describe('the provider pause is checked again after the rate-limit grant', () => {
  it('a send waiting for its slot does not go out when another process paused the provider meanwhile', async () => {
    const from = '+15550007777';
    const key = gateKey(from);
    // One send per 2 s on this sender: the second message waits in-process for its slot.
    const c = await messagingCourier({
      twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from, baseUrl: peer.url, timeout: 5, rateLimit: { limit: 1, per: 2 } },
      sendTask: fastRetries,
      gates: { maxWait: 10 },
    });
    try {
      const a = number();
      const b = number();
      const first = await c.messages.send({ channel: 'sms', to: a, body: 'first' });
      await c.start({ pollInterval: 0.05, concurrency: 2 });
      await waitForStatus(c, first, ['sent', 'delivered']);
      const second = await c.messages.send({ channel: 'sms', to: b, body: 'second' });
      const taskId = (await c.messages.get(second))?.taskId ?? null;
      await waitFor(async () => (await taskRow(c, taskId))?.status === 'running', 5000, 'second send running');
      // Another process got a 429 and paused the provider while this one waits.
      await c.pool.query(`INSERT INTO "${c.schema}".provider_gates (key, paused_until, paused_at, reason) VALUES ($1, now() + interval '3 seconds', now(), 'rate limited elsewhere')`, [key]);
      const pausedAt = Date.now();
      const m = await waitForStatus(c, second, ['sent', 'delivered'], 20_000);
      expect(m.status).not.toBe('failed');
      const sent = creates(b)[0];
      expect((sent?.request.at ?? 0) - pausedAt).toBeGreaterThanOrEqual(2500);
    } finally {
      await c.close({ grace: 1 });
    }
  });
});

describe('every deferral has a bound', () => {
  it('messages deferred by a configuration pause fail with "deferred" after gates.maxDeferral, and the batch finishes', async () => {
    const c = await messagingCourier({
      twilio: { accountSid: peer.accountSid, authToken: 'definitely-the-wrong-token', from: '+15550008888', baseUrl: peer.url, timeout: 5 },
      sendTask: fastRetries,
      gates: { configPause: 0.5, maxDeferral: 2 },
    });
    try {
      const batchId = await c.messages.sendBulk({ channel: 'sms', recipients: [number(), number()], template: 'Hi' });
      await c.start({ pollInterval: 0.1 });
      const final = await c.messages.batch(batchId).done({ timeout: 20 });
      expect(final).toMatchObject({ total: 2, failed: 2, active: 0 });
      const { rows } = await c.pool.query<{ error_code: string; error_text: string }>(`SELECT error_code, error_text FROM "${c.schema}".messages WHERE batch_id = $1`, [batchId]);
      expect(rows.map((r) => r.error_code)).toEqual(['deferred', 'deferred']);
      expect(rows[0]?.error_text).toMatch(/gates\.maxDeferral/);
    } finally {
      await c.close({ grace: 1 });
    }
  });
});

describe('unknown messages: reconcile with the provider, or resend explicitly', () => {
  it('a request Twilio accepted but whose reply was lost is found by reconcile() and becomes sent', async () => {
    const to = number();
    peer.acceptThenDrop.add(to);
    const id = await courier.messages.send({ channel: 'sms', to, body: 'maybe sent' });
    expect((await waitForStatus(courier, id, ['unknown', 'sent'])).status).toBe('unknown');
    const created = creates(to)[0];
    expect(await courier.messages.reconcile(id)).toEqual({ outcome: 'found', providerMessageId: created?.sid });
    expect(await courier.messages.get(id)).toMatchObject({ status: 'sent', providerMessageId: created?.sid, error: null });
    expect(creates(to)).toHaveLength(1);
    await expect(courier.messages.reconcile(id)).rejects.toThrow(/only unknown/);
  });

  it('a request that never reached Twilio is not found; resend() sends it again as a linked message', async () => {
    const to = number();
    peer.script({ match: (c) => c.to === to, action: { drop: true } });
    const id = await courier.messages.send({ channel: 'sms', to, body: 'lost on the way' });
    expect((await waitForStatus(courier, id, ['unknown', 'sent'])).status).toBe('unknown');
    expect(await courier.messages.reconcile(id)).toEqual({ outcome: 'not_found' });
    expect((await courier.messages.get(id))?.status).toBe('unknown');
    const again = await courier.messages.resend(id);
    const m = await waitForStatus(courier, again, ['delivered', 'failed']);
    expect(m).toMatchObject({ status: 'delivered', parentId: id, relation: 'resend' });
    expect(creates(to).map((c) => c.form.get('Body'))).toEqual(['lost on the way', 'lost on the way']);
    await expect(courier.messages.resend(again)).rejects.toThrow(/only unknown, failed or undelivered/);
  });
});
