// Idempotent send(): a caller that retries with the same key gets the same message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { messagingCourier } from './helpers.js';

let courier: MessagingCourier;
beforeAll(async () => {
  courier = await messagingCourier({});
});
afterAll(async () => {
  await courier.close();
});

const count = async (sql: string, params: unknown[] = []) => (await courier.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${courier.schema}".${sql}`, params)).rows[0]?.n;

describe('idempotencyKey', () => {
  it('send() with a used key creates nothing and returns the first message id', async () => {
    const input = { channel: 'sms', to: '+15551110001', body: 'Your code is 1234', idempotencyKey: 'otp:user-1:2026-11-30T15' } as const;
    const first = await courier.messages.send(input);
    const second = await courier.messages.send({ ...input, body: 'a retry with other text' });
    expect(second).toBe(first);
    expect(await count('messages WHERE idempotency_key = $1', [input.idempotencyKey])).toBe(1);
    expect(await count(`tasks WHERE name = 'messages.send' AND payload->>'messageId' = $1`, [first])).toBe(1);
    expect(await count(`tasks WHERE name = 'messages.send'`)).toBe(1);
    expect((await courier.messages.get(first))?.idempotencyKey).toBe(input.idempotencyKey);
    const other = await courier.messages.send({ ...input, idempotencyKey: 'otp:user-1:2026-11-30T16' });
    expect(other).not.toBe(first);
  });

  it('concurrent sends with one key: one message, one task, every caller gets its id', async () => {
    const key = 'welcome:user-42';
    const ids = await Promise.all(Array.from({ length: 8 }, () => courier.messages.send({ channel: 'email', to: 'user42@example.test', subject: 'Welcome', body: 'Hi', idempotencyKey: key })));
    expect(new Set(ids).size).toBe(1);
    expect(await count('messages WHERE idempotency_key = $1', [key])).toBe(1);
    expect(await count(`tasks WHERE name = 'messages.send' AND payload->>'messageId' = $1`, [ids[0]])).toBe(1);
  });

  it('inside the caller transaction: a rollback frees the key', async () => {
    const client = await courier.pool.connect();
    try {
      await client.query('BEGIN');
      await courier.messages.send({ channel: 'sms', to: '+15551110002', body: 'x', idempotencyKey: 'tx-key' }, { tx: client });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await count('messages WHERE idempotency_key = $1', ['tx-key'])).toBe(0);
    const id = await courier.messages.send({ channel: 'sms', to: '+15551110002', body: 'x', idempotencyKey: 'tx-key' });
    expect((await courier.messages.get(id))?.status).toBe('queued');
  });

  it('sendBulk: recipients whose key was already used are left out; keys must be unique in a batch', async () => {
    await courier.messages.send({ channel: 'sms', to: '+15551110003', body: 'x', idempotencyKey: 'campaign-7:+15551110003' });
    const batchId = await courier.messages.sendBulk({
      channel: 'sms',
      template: 'Spring sale',
      recipients: [
        { to: '+15551110003', idempotencyKey: 'campaign-7:+15551110003' },
        { to: '+15551110004', idempotencyKey: 'campaign-7:+15551110004' },
        '+15551110005',
      ],
    });
    expect(await courier.messages.getBatch(batchId)).toMatchObject({ total: 2 });
    // The same campaign started again (a caller retry): nothing new for keyed recipients.
    const again = await courier.messages.sendBulk({ channel: 'sms', template: 'Spring sale', recipients: [{ to: '+15551110004', idempotencyKey: 'campaign-7:+15551110004' }] });
    expect(await courier.messages.getBatch(again)).toMatchObject({ total: 0 });
    expect(await count('messages WHERE recipient = $1', ['+15551110004'])).toBe(1);
    await expect(
      courier.messages.sendBulk({ channel: 'sms', template: 'x', recipients: [{ to: '+15551110006', idempotencyKey: 'k' }, { to: '+15551110007', idempotencyKey: 'k' }] }),
    ).rejects.toThrow(ValidationError);
    await expect(courier.messages.send({ channel: 'sms', to: '+15551110008', body: 'x', idempotencyKey: '' })).rejects.toThrow(/idempotencyKey/);
  });
});
