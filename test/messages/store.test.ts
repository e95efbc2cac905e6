import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCourier, ValidationError } from '../../src/index.js';
import { type MessageProvider, type MessagingCourier, messages } from '../../src/messages/index.js';
import { databaseUrl, freshSchema, waitFor } from '../helpers/db.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { captureLogger, fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

let peer: TwilioPeer;
let courier: MessagingCourier;
const log = captureLogger();

beforeAll(async () => {
  peer = await startTwilioPeer();
  peer.lifecycle = () => [];
  courier = await messagingCourier(
    { twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: '+15550001111', baseUrl: peer.url, timeout: 5 }, rateLimits: { sms: '100/s' }, sendTask: fastRetries },
    { logger: log.logger },
  );
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await peer.close();
});

describe('configuration and input validation', () => {
  it('names the field and never echoes a secret', () => {
    const secret = 'super-secret-token-value';
    const attempt = (providers: unknown) => {
      try {
        createCourier({ connectionString: databaseUrl(), schema: freshSchema(), plugins: [messages({ providers: providers as never })] });
        return null;
      } catch (err) {
        return err as ValidationError;
      }
    };
    const cases: Array<[unknown, string]> = [
      [{ twilio: { accountSid: secret, authToken: secret, from: '+1555' } }, 'providers.twilio.accountSid'],
      [{ twilio: { accountSid: 'AC0123456789', authToken: 42, from: '+1555' } }, 'providers.twilio.authToken'],
      [{ twilio: { accountSid: 'AC0123456789', authToken: secret } }, 'providers.twilio.from'],
      [{ smtp: { host: 'smtp.test', from: 'a@b.test', auth: { user: 'u', pass: secret }, port: 'x' } }, 'providers.smtp.port'],
      [{ resend: { apiKey: secret, from: 'a@b.test', baseUrl: `not a url ${secret}` } }, 'providers.resend.baseUrl'],
      [{ whatsapp: { phoneNumberId: '1', accessToken: secret, apiVersion: secret } }, 'providers.whatsapp.apiVersion'],
      [{ rateLimits: { sms: 'fast' } }, 'providers.rateLimits.sms'],
      [{ emailjs: { publicKeys: [] } }, 'providers.emailjs.publicKeys'],
    ];
    for (const [providers, field] of cases) {
      const err = attempt(providers);
      expect(err, field).toBeInstanceOf(ValidationError);
      expect(err?.field).toBe(field);
      expect(err?.message).not.toContain(secret);
    }
    // Unknown keys are refused too, named with their path.
    const unknown = attempt({ twilio: { accountSid: 'AC0123456789', authToken: secret, from: '+1', token: secret } });
    expect(unknown?.field).toBe('providers.twilio.token');
    expect(unknown?.message).not.toContain(secret);
  });

  it('send() validates its input, naming the field; nothing is written', async () => {
    await expect(courier.messages.send({ channel: 'sms', to: '555-1234', body: 'x' })).rejects.toThrow(/"to" must be an E.164 phone number/);
    await expect(courier.messages.send({ channel: 'email', to: 'not-an-email', body: 'x' })).rejects.toThrow(/"to" must be an email address/);
    await expect(courier.messages.send({ channel: 'sms', to: '+15551234567' } as never)).rejects.toThrow(/"body" is required/);
    await expect(courier.messages.send({ channel: 'pigeon', to: 'x', body: 'x' })).rejects.toThrow(/"channel" must be a registered channel/);
    await expect(courier.messages.send({ channel: 'sms', to: '+15551234567', body: 'x', provider: 'resend' })).rejects.toThrow(/"provider" must be a provider configured for channel "sms"/);
    await expect(courier.messages.send({ channel: 'sms', to: '+15551234567', body: 'x', media: ['ftp://x'] })).rejects.toThrow(/"media.0" must be an http\(s\) URL/);
    await expect(courier.messages.send({ channel: 'sms', to: '+15551234567', body: 'x', expiresAt: 'soon' })).rejects.toThrow(/"expiresAt"/);
    const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".messages`);
    expect(rows[0].n).toBe(0);
  });
});

describe('message lifecycle', () => {
  it('send() inside the caller’s transaction: a rollback leaves neither message nor task', async () => {
    const client = await courier.pool.connect();
    let id: string;
    try {
      await client.query('BEGIN');
      id = await courier.messages.send({ channel: 'sms', to: '+15550009999', body: 'in tx' }, { tx: client });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await courier.messages.get(id)).toBeNull();
    const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".tasks WHERE payload->>'messageId' = $1`, [id]);
    expect(rows[0].n).toBe(0);
  });

  it('get() returns the documented shape', async () => {
    const id = await courier.messages.send({ channel: 'sms', to: '+1 (555) 000-1234', body: 'shape' });
    const m = await courier.messages.get(id);
    expect(Object.keys(m ?? {})).toEqual(expect.arrayContaining(['id', 'channel', 'to', 'status', 'provider', 'providerMessageId', 'error', 'attempts', 'batchId', 'createdAt', 'updatedAt']));
    expect(m).toMatchObject({ id, channel: 'sms', to: '+15550001234', status: 'queued', provider: null, providerMessageId: null, error: null, attempts: 0, batchId: null });
    expect(await courier.messages.get('not-a-uuid')).toBeNull();
  });

  it('voice and in-person messages are recorded, not sent, and updated by hand with notes', async () => {
    const call = await courier.messages.send({ channel: 'voice', to: '+15550004444', body: 'Call about the invoice' });
    const visit = await courier.messages.send({ channel: 'in_person', to: 'Front desk, Ana', subject: 'Parcel handover' });
    expect((await courier.messages.get(call))?.taskId).toBeNull();
    expect(await courier.messages.markDelivered(call, 'Spoke to Ana at 10:05')).toBe(true);
    expect(await courier.messages.addNote(visit, 'Left at reception')).toBe(true);
    expect(await courier.messages.update(visit, { status: 'read' })).toBe(true);
    expect(await courier.messages.update(visit, { status: 'sent' })).toBe(false);
    expect((await courier.messages.get(call))?.status).toBe('delivered');
    expect((await courier.messages.get(visit))?.status).toBe('read');
    expect((await courier.messages.events(call)).map((e) => [e.source, e.status, e.note])).toEqual([['manual', 'delivered', 'Spoke to Ana at 10:05']]);
    const status = await courier.messages.status();
    expect(status.channels.voice?.delivered).toBe(1);
    expect(status.channels.in_person?.read).toBe(1);
  });

  it('an expired message is not sent', async () => {
    const id = await courier.messages.send({ channel: 'sms', to: '+15550005555', body: 'late', expiresAt: new Date(Date.now() - 1000) });
    await courier.drain();
    const m = await courier.messages.get(id);
    expect(m).toMatchObject({ status: 'failed', error: { code: 'expired' } });
    expect(peer.creates.filter((c) => c.to === '+15550005555')).toHaveLength(0);
  });

  it('a send left open by a dead attempt is marked unknown, never resent', async () => {
    const id = await courier.messages.send({ channel: 'sms', to: '+15550006666', body: 'crash' });
    const m = await courier.messages.get(id);
    // What a worker killed mid-request leaves behind: the ledger entry open, the message 'sending'.
    await courier.pool.query(`UPDATE "${courier.schema}".messages SET status = 'sending', attempts = 1, provider = 'twilio' WHERE id = $1`, [id]);
    await courier.pool.query(`INSERT INTO "${courier.schema}".message_attempts (message_id, n, task_id, task_attempt, provider) VALUES ($1, 1, $2, 1, 'twilio')`, [id, m?.taskId]);
    await courier.drain();
    const after = await courier.messages.get(id);
    expect(after).toMatchObject({ status: 'unknown', error: { code: 'ambiguous' } });
    expect(peer.creates.filter((c) => c.to === '+15550006666')).toHaveLength(0);
    expect(await courier.messages.attempts(id)).toMatchObject([{ n: 1, outcome: 'ambiguous' }]);
  });

  it('retryable errors use the retry budget, then fail the message', async () => {
    peer.script({ match: (c) => c.to === '+15550007777', times: 10, action: { status: 400, body: { code: 30008, message: 'Unknown error', status: 400 } } });
    const id = await courier.messages.send({ channel: 'sms', to: '+15550007777', body: 'flaky' });
    await courier.start({ pollInterval: 0.1 });
    const m = await waitForStatus(courier, id, ['failed']);
    await courier.stop({ grace: 1 });
    expect(m.error?.code).toBe('30008');
    expect(await courier.messages.attempts(id)).toHaveLength(fastRetries.maxRetries + 1);
    // The message is failed in the handler; the task's outcome is written after it returns.
    await waitFor(async () => (await taskRow(courier, m.taskId))?.status === 'failed', 10_000, 'the send task to settle as failed');
  });
});

describe('extension points', () => {
  it('registerChannel + registerProvider: a Telegram-style channel is one object', async () => {
    const sent: Array<{ to: string; text: string | null }> = [];
    const telegram: MessageProvider = {
      name: 'telegram',
      channels: ['telegram'],
      rateLimit: '30/s',
      secrets: ['bot-token-123456'],
      async send(message) {
        if (message.to === '-1') return { outcome: 'permanent_recipient', code: '403', message: 'bot was blocked by the user (token bot-token-123456)' };
        sent.push({ to: message.to, text: message.text });
        return { outcome: 'ok', providerMessageId: String(sent.length) };
      },
    };
    courier.messages.registerChannel({ name: 'telegram', provider: 'telegram', normalize: (to) => (/^-?\d{1,20}$/.test(to.trim()) ? to.trim() : null) });
    courier.messages.registerProvider(telegram);
    const ok = await courier.messages.send({ channel: 'telegram', to: '123456789', template: 'Hello {{name}}', variables: { name: 'Ana' } });
    const blocked = await courier.messages.send({ channel: 'telegram', to: '-1', body: 'x' });
    await expect(courier.messages.send({ channel: 'telegram', to: '@ana', body: 'x' })).rejects.toThrow(/valid telegram recipient/);
    await courier.drain();
    expect(await courier.messages.get(ok)).toMatchObject({ status: 'sent', provider: 'telegram', providerMessageId: '1' });
    expect(sent).toEqual([{ to: '123456789', text: 'Hello Ana' }]);
    const b = await courier.messages.get(blocked);
    expect(b?.status).toBe('failed');
    expect(b?.error?.message).toBe('bot was blocked by the user (token [redacted])');
    expect(await courier.messages.suppression('telegram', '-1')).not.toBeNull();
  });

  it('messages that no process can send wait (pending) instead of failing', async () => {
    const other = await messagingCourier({ twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: '+15550001111', baseUrl: peer.url } });
    try {
      const id = await other.messages.send({ channel: 'sms', to: '+15550008888', body: 'x' });
      // A worker of the same schema without any provider settings.
      const bare = createCourier({ connectionString: databaseUrl(), schema: other.schema, plugins: [messages()] });
      try {
        await bare.drain();
      } finally {
        await bare.close();
      }
      const m = await other.messages.get(id);
      expect(m).toMatchObject({ status: 'pending', error: { code: 'config' } });
      await waitFor(async () => (await taskRow(other, m?.taskId ?? null))?.status === 'queued');
    } finally {
      await other.close();
    }
  });
});

describe('cleanup', () => {
  it('deletes finished messages older than the retention, never active ones', async () => {
    const c = await messagingCourier({ twilio: { accountSid: peer.accountSid, authToken: peer.authToken, from: '+15550001111', baseUrl: peer.url } });
    try {
      const old = await c.messages.send({ channel: 'voice', to: '+15550001010', body: 'old call' });
      await c.messages.markDelivered(old);
      const active = await c.messages.send({ channel: 'sms', to: '+15550001011', body: 'queued' });
      const batch = await c.messages.sendBulk({ channel: 'sms', recipients: ['+15550001012'], template: 'x' });
      await c.messages.suppress('sms', '+15550001012');
      await c.pool.query(`UPDATE "${c.schema}".messages SET status = 'failed', created_at = now() - interval '8 days' WHERE batch_id = $1`, [batch]);
      await c.pool.query(`UPDATE "${c.schema}".message_batches SET created_at = now() - interval '8 days'`);
      await c.pool.query(`UPDATE "${c.schema}".messages SET created_at = now() - interval '8 days' WHERE id IN ($1, $2)`, [old, active]);
      expect(await c.messages.cleanup({ batchSize: 1 })).toEqual({ messages: 2, batches: 1 });
      expect(await c.messages.get(old)).toBeNull();
      expect(await c.messages.get(active)).not.toBeNull();
      expect(await c.messages.getBatch(batch)).toBeNull();
    } finally {
      await c.close();
    }
  });
});

describe('logs', () => {
  it('never contain the auth token', () => {
    expect(log.text()).not.toContain(peer.authToken);
    expect(log.text()).not.toContain('bot-token-123456');
  });
});
