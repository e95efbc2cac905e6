import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import { serveWeb } from '../peers/http.js';
import { type MetaPeer, startMetaPeer, statusWebhook } from '../peers/meta.js';
import { captureLogger, fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

let peer: MetaPeer;
let web: Awaited<ReturnType<typeof serveWeb>>;
let courier: MessagingCourier;
const log = captureLogger();
const VERIFY = 'verify-token-value-77';
let n = 0;
const number = () => `+1666${String(1_000_000 + ++n).slice(1)}`;
const digits = (e164: string) => e164.slice(1);

beforeAll(async () => {
  peer = await startMetaPeer();
  web = await serveWeb({ '/meta': (r) => courier.messages.webhooks.meta(r) });
  peer.webhookUrl = `${web.url}/meta`;
  courier = await messagingCourier(
    {
      whatsapp: { phoneNumberId: peer.phoneNumberId, accessToken: peer.accessToken, appSecret: peer.appSecret, verifyToken: VERIFY, baseUrl: peer.url, apiVersion: 'v24.0', timeout: 5 },
      rateLimits: { whatsapp: '50/s' },
      sendTask: fastRetries,
      deliveryRetries: { max: 1, delay: 0.2 },
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

describe('Meta WhatsApp Cloud API', () => {
  it('answers the hub.challenge handshake only with the right verify token', async () => {
    const ok = await fetch(`${web.url}/meta?hub.mode=subscribe&hub.verify_token=${VERIFY}&hub.challenge=1158201444`);
    expect([ok.status, await ok.text()]).toEqual([200, '1158201444']);
    const bad = await fetch(`${web.url}/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444`);
    expect(bad.status).toBe(403);
  });

  it('sends a text message in the documented shape and follows webhooks to read', async () => {
    const to = number();
    const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'Your order #1042 shipped' });
    const m = await waitForStatus(courier, id, ['read', 'failed', 'unknown']);
    expect(m.status).toBe('read');
    const send = peer.sends.find((s) => s.to === digits(to));
    expect(send?.request.path).toBe(`/v24.0/${peer.phoneNumberId}/messages`);
    expect(send?.request.headers.authorization).toBe(`Bearer ${peer.accessToken}`);
    expect(send?.request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(send?.request.raw.toString() ?? '')).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: digits(to),
      biz_opaque_callback_data: id,
      type: 'text',
      text: { body: 'Your order #1042 shipped', preview_url: false },
    });
    expect(m.providerMessageId).toBe(send?.wamid);
    expect(m.provider).toBe('meta');
  });

  it('sends an approved template with its parameters', async () => {
    const to = number();
    const id = await courier.messages.send({ channel: 'whatsapp', to, template: { name: 'order_shipped', language: 'en_US' }, variables: { 1: 'Ana', 2: '#1042' } });
    expect((await waitForStatus(courier, id, ['read', 'failed'])).status).toBe('read');
    const body = peer.sends.find((s) => s.to === digits(to))?.body;
    expect(body?.template).toEqual({ name: 'order_shipped', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '#1042' }] }] });
  });

  it('an unknown template (132001) fails permanently without retries', async () => {
    const id = await courier.messages.send({ channel: 'whatsapp', to: number(), template: { name: 'no_such_template' } });
    const m = await waitForStatus(courier, id, ['failed', 'sent']);
    expect(m.error?.code).toBe('132001');
    expect(await courier.messages.attempts(id)).toHaveLength(1);
  });

  it('130429 with Retry-After: 2 delays the next attempt by at least 2 s without using a retry (whatever the HTTP status)', async () => {
    const to = number();
    peer.script({
      match: (s) => s.to === digits(to),
      action: { status: 400, headers: { 'retry-after': '2' }, body: { error: { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, fbtrace_id: 'x' } } },
    });
    const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'hi' });
    const m = await waitForStatus(courier, id, ['sent', 'delivered', 'read', 'failed'], 30_000);
    expect(m.status).not.toBe('failed');
    const sends = peer.sends.filter((s) => s.to === digits(to));
    expect(sends).toHaveLength(2);
    expect((sends[1]?.request.at ?? 0) - (sends[0]?.request.at ?? 0)).toBeGreaterThanOrEqual(2000);
    const task = await taskRow(courier, m.taskId);
    expect((task?.attempts ?? 0) - (task?.deferrals ?? 0)).toBe(1);
  });

  it('a dropped connection after the request is unknown and not resent', async () => {
    const to = number();
    peer.script({ match: (s) => s.to === digits(to), action: { drop: true } });
    const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'maybe' });
    expect((await waitForStatus(courier, id, ['unknown', 'sent', 'failed'])).status).toBe('unknown');
    const after = await courier.messages.send({ channel: 'whatsapp', to: number(), body: 'next' });
    await waitForStatus(courier, after, ['read']);
    expect(peer.sends.filter((s) => s.to === digits(to))).toHaveLength(1);
  });

  it('webhooks: forged rejected, duplicates applied once, out of order never backwards', async () => {
    peer.lifecycle = () => [];
    try {
      const to = number();
      const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'track me' });
      const m = await waitForStatus(courier, id, ['sent']);
      const wamid = m.providerMessageId as string;
      const hook = (status: string) => statusWebhook(peer.phoneNumberId, { wamid, status, recipient: digits(to), opaque: id });
      expect(await peer.postWebhook(hook('read'), { forge: true })).toBe(401);
      expect((await courier.messages.get(id))?.status).toBe('sent');
      expect(await peer.postWebhook(hook('read'))).toBe(200);
      expect(await peer.postWebhook(hook('read'))).toBe(200);
      expect(await peer.postWebhook(hook('delivered'))).toBe(200);
      expect(await peer.postWebhook(hook('sent'))).toBe(200);
      const after = await courier.messages.get(id);
      expect(after?.status).toBe('read');
      const events = await courier.messages.events(id);
      expect(events.map((e) => [e.status, e.applied])).toEqual([
        ['read', true],
        ['delivered', false],
        ['sent', false],
      ]);
      // Without our id in the payload, the wamid finds the message.
      const other = await courier.messages.send({ channel: 'whatsapp', to: number(), body: 'no opaque' });
      const o = await waitForStatus(courier, other, ['sent']);
      expect(await peer.postWebhook(statusWebhook(peer.phoneNumberId, { wamid: o.providerMessageId as string, status: 'delivered', recipient: '1' }))).toBe(200);
      expect((await courier.messages.get(other))?.status).toBe('delivered');
    } finally {
      peer.lifecycle = () => [
        { status: 'sent', delay: 20 },
        { status: 'delivered', delay: 50 },
        { status: 'read', delay: 80 },
      ];
    }
  });

  it('a failed status with 131026 (undeliverable) suppresses the recipient', async () => {
    const to = number();
    peer.lifecycle = (s) => (s.to === digits(to) ? [{ status: 'failed', delay: 20, errorCode: 131026 }] : [{ status: 'read', delay: 20 }]);
    try {
      const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'hello?' });
      const m = await waitForStatus(courier, id, ['failed']);
      expect(m.error?.code).toBe('131026');
      expect(await courier.messages.suppression('whatsapp', to)).toMatchObject({ code: '131026' });
    } finally {
      peer.lifecycle = () => [{ status: 'read', delay: 20 }];
    }
  });

  it('a closed 24-hour window (131047 by webhook) enqueues the template fallback as a new message', async () => {
    const to = number();
    peer.closedWindows.add(digits(to));
    const id = await courier.messages.send({
      channel: 'whatsapp',
      to,
      body: 'Are you still there?',
      fallback: { template: { name: 'order_shipped', language: 'en_US' }, variables: { 1: 'Ana', 2: '#7' } },
    });
    const m = await waitForStatus(courier, id, ['failed']);
    expect(m.error?.code).toBe('131047');
    const followId = await waitFor(async () => {
      const { rows } = await courier.pool.query<{ id: string }>(`SELECT id FROM "${courier.schema}".messages WHERE parent_id = $1`, [id]);
      return rows[0]?.id;
    });
    const f = await waitForStatus(courier, followId, ['read', 'failed']);
    expect(f.status).toBe('read');
    const sends = peer.sends.filter((s) => s.to === digits(to));
    expect(sends.map((s) => s.body.type)).toEqual(['text', 'template']);
    // The webhook event is applied once: one follow-up only.
    const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".messages WHERE parent_id = $1`, [id]);
    expect(rows[0].n).toBe(1);
  });

  it('a paused (132015) or disabled (132016) template fails that message only: nothing is paused or suppressed', async () => {
    peer.templates.set('spring_sale:en_US', 0);
    peer.templateStates.set('spring_sale:en_US', 132015);
    const recipients = [number(), number()];
    const batchId = await courier.messages.sendBulk({ channel: 'whatsapp', recipients, template: { name: 'spring_sale', language: 'en_US' } });
    const final = await courier.messages.batch(batchId).done({ timeout: 20 });
    expect(final).toMatchObject({ failed: 2, active: 0 });
    expect(await courier.messages.pausedProviders()).toEqual([]);
    for (const to of recipients) expect(await courier.messages.suppression('whatsapp', to)).toBeNull();
    const { rows } = await courier.pool.query<{ error_code: string }>(`SELECT error_code FROM "${courier.schema}".messages WHERE batch_id = $1`, [batchId]);
    expect(rows.map((r) => r.error_code)).toEqual(['132015', '132015']);
    // Other messages keep flowing.
    const id = await courier.messages.send({ channel: 'whatsapp', to: number(), body: 'still here' });
    expect((await waitForStatus(courier, id, ['sent', 'delivered', 'read', 'failed'])).status).not.toBe('failed');
  });

  it('media go out typed by content type: a PDF as a document with its file name, a video as video', async () => {
    const pdfTo = number();
    const pdf = await courier.messages.send({ channel: 'whatsapp', to: pdfTo, body: 'Your invoice', media: [{ url: 'https://cdn.example.test/dl?id=42', contentType: 'application/pdf', filename: 'invoice-42.pdf' }] });
    await waitForStatus(courier, pdf, ['sent', 'delivered', 'read']);
    expect(peer.sends.find((x) => x.to === digits(pdfTo))?.body).toMatchObject({ type: 'document', document: { link: 'https://cdn.example.test/dl?id=42', caption: 'Your invoice', filename: 'invoice-42.pdf' } });
    const videoTo = number();
    const video = await courier.messages.send({ channel: 'whatsapp', to: videoTo, media: ['https://cdn.example.test/tour.mp4'] });
    await waitForStatus(courier, video, ['sent', 'delivered', 'read']);
    expect(peer.sends.find((x) => x.to === digits(videoTo))?.body).toMatchObject({ type: 'video', video: { link: 'https://cdn.example.test/tour.mp4' } });
    await expect(courier.messages.send({ channel: 'whatsapp', to: number(), body: 'listen', media: [{ url: 'https://cdn.example.test/v.ogg', contentType: 'audio/ogg' }] })).rejects.toThrow(/audio takes no caption/);
  });

  it('templates with a media header and buttons are accepted by the Cloud API shape', async () => {
    peer.templates.set('invoice_ready:en_US', 1);
    peer.templateHeaders.set('invoice_ready:en_US', 'document');
    const to = number();
    const id = await courier.messages.send({
      channel: 'whatsapp',
      to,
      template: { name: 'invoice_ready', language: 'en_US', header: { document: 'https://cdn.example.test/inv.pdf', filename: 'inv.pdf' }, buttons: [{ type: 'url', text: 'inv-42' }] },
      variables: { 1: 'Ana' },
    });
    expect((await waitForStatus(courier, id, ['sent', 'delivered', 'read', 'failed'])).status).not.toBe('failed');
    const missing = await courier.messages.send({ channel: 'whatsapp', to: number(), template: { name: 'invoice_ready', language: 'en_US' }, variables: { 1: 'Ana' } });
    expect((await waitForStatus(courier, missing, ['failed', 'sent'])).error?.code).toBe('132012');
    await expect(courier.messages.send({ channel: 'whatsapp', to: number(), template: { contentSid: `HX${'d'.repeat(32)}` } })).rejects.toThrow(/Content template/);
  });

  it('131016 (service unavailable) by webhook gets one new linked attempt', async () => {
    const to = number();
    let failures = 0;
    peer.lifecycle = (s) => (s.to === digits(to) && failures++ === 0 ? [{ status: 'failed', delay: 10, errorCode: 131016 }] : [{ status: 'read', delay: 20 }]);
    try {
      const id = await courier.messages.send({ channel: 'whatsapp', to, body: 'retry me' });
      await waitForStatus(courier, id, ['failed']);
      const retry = await waitFor(async () => {
        const { rows } = await courier.pool.query<{ id: string }>(`SELECT id FROM "${courier.schema}".messages WHERE parent_id = $1 AND relation = 'webhook_retry'`, [id]);
        return rows[0]?.id;
      });
      expect((await waitForStatus(courier, retry, ['read'])).parentId).toBe(id);
      expect(peer.sends.filter((x) => x.to === digits(to)).map((x) => x.body.text?.body)).toEqual(['retry me', 'retry me']);
    } finally {
      peer.lifecycle = () => [
        { status: 'sent', delay: 20 },
        { status: 'delivered', delay: 50 },
        { status: 'read', delay: 80 },
      ];
    }
  });

  it('an inbound STOP suppresses the recipient for this business number; START lifts it', async () => {
    const to = number();
    expect(await peer.postInbound(digits(to), 'STOP')).toBe(200);
    expect(await courier.messages.suppression('whatsapp', to)).toMatchObject({ sender: peer.phoneNumberId, code: 'inbound_stop' });
    const blocked = await courier.messages.send({ channel: 'whatsapp', to, body: 'promo' });
    expect((await waitForStatus(courier, blocked, ['failed', 'sent'])).error?.code).toBe('suppressed');
    expect(peer.sends.filter((x) => x.to === digits(to))).toHaveLength(0);
    expect(await peer.postInbound(digits(to), 'start')).toBe(200);
    expect(await courier.messages.suppression('whatsapp', to)).toBeNull();
  });

  it('secrets never appear in logs', () => {
    for (const s of [peer.accessToken, peer.appSecret, VERIFY]) expect(log.text()).not.toContain(s);
  });
});
