// messages.send / sendBulk with `tx`: every transaction kind enqueueTask takes
// (here Knex and Drizzle over postgres.js, the real packages on the test
// database). A rollback leaves no message, batch or task; a commit sends them to
// the local Twilio peer; an object outside a transaction is refused.
import { drizzle } from 'drizzle-orm/postgres-js';
import knexFactory, { type Knex } from 'knex';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { databaseUrl } from '../helpers/db.js';
import { startTwilioPeer, type TwilioPeer } from '../peers/twilio.js';
import { fastRetries, messagingCourier, waitForStatus } from './helpers.js';

let twilio: TwilioPeer;
let courier: MessagingCourier;
let knex: Knex;
let sql: postgres.Sql;

beforeAll(async () => {
  twilio = await startTwilioPeer();
  courier = await messagingCourier({
    twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15550001111', baseUrl: twilio.url, timeout: 5 },
    rateLimits: { sms: '100/s' },
    sendTask: fastRetries,
  });
  knex = knexFactory({ client: 'pg', connection: databaseUrl(), pool: { min: 0, max: 2 } });
  sql = postgres(databaseUrl(), { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await knex.destroy();
  await sql.end();
  await twilio.close();
});

const count = async (table: string, where = 'true', values: unknown[] = []) =>
  (await courier.pool.query(`SELECT count(*)::int AS n FROM "${courier.schema}".${table} WHERE ${where}`, values)).rows[0].n as number;

const rolledBack = new Error('roll back');

describe('messages with tx', () => {
  it('Knex: a rolled-back transaction leaves no message, batch or task', async () => {
    let id = '';
    let batchId = '';
    await expect(
      knex.transaction(async (trx) => {
        id = await courier.messages.send({ channel: 'sms', to: '+15552220001', body: 'never sent' }, { tx: trx });
        batchId = await courier.messages.sendBulk({ channel: 'sms', recipients: ['+15552220002', '+15552220003'], template: 'never {{x}}', variables: { x: 'sent' } }, { tx: trx });
        // Inside the transaction the rows exist.
        expect((await trx.raw(`SELECT count(*)::int AS n FROM "${courier.schema}".messages WHERE id = ? OR batch_id = ?`, [id, batchId])).rows[0].n).toBe(3);
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);
    expect(await courier.messages.get(id)).toBeNull();
    expect(await courier.messages.getBatch(batchId)).toBeNull();
    expect(await count('messages')).toBe(0);
    expect(await count('tasks')).toBe(0);
  });

  it('Knex and Drizzle (postgres.js): a committed send and bulk send reach the local peer', async () => {
    const fromKnex = await knex.transaction(async (trx) => ({
      id: await courier.messages.send({ channel: 'sms', to: '+15552220011', body: 'hello from knex' }, { tx: trx }),
      batch: await courier.messages.sendBulk({ channel: 'sms', recipients: [{ to: '+15552220012', variables: { n: 1 } }, { to: '+15552220013', variables: { n: 2 } }], template: 'knex bulk {{n}}' }, { tx: trx }),
    }));
    const db = drizzle(sql);
    const fromDrizzle = await db.transaction(async (tx) => ({
      id: await courier.messages.send({ channel: 'sms', to: '+15552220021', body: 'hello from drizzle', idempotencyKey: 'drizzle-1' }, { tx }),
      batch: await courier.messages.sendBulk({ channel: 'sms', recipients: ['+15552220022'], template: 'drizzle bulk' }, { tx }),
    }));
    expect(await count('tasks')).toBe(5);
    await courier.start({ pollInterval: 0.1, concurrency: 4 });
    for (const id of [fromKnex.id, fromDrizzle.id]) expect((await waitForStatus(courier, id, ['sent', 'delivered', 'failed'])).status).not.toBe('failed');
    for (const batch of [fromKnex.batch, fromDrizzle.batch]) expect(await courier.messages.batch(batch).done({ timeout: 20, interval: 0.1 })).toMatchObject({ failed: 0, active: 0 });
    await courier.stop({ grace: 1 });
    const sent = Object.fromEntries(twilio.creates.map((c) => [c.to, c.form.get('Body')]));
    expect(sent).toEqual({
      '+15552220011': 'hello from knex',
      '+15552220012': 'knex bulk 1',
      '+15552220013': 'knex bulk 2',
      '+15552220021': 'hello from drizzle',
      '+15552220022': 'drizzle bulk',
    });
    // The idempotency key was written through the Drizzle transaction too.
    expect(await courier.messages.send({ channel: 'sms', to: '+15552220021', body: 'again', idempotencyKey: 'drizzle-1' })).toBe(fromDrizzle.id);
  });

  it('refuses an object outside a transaction, naming tx, and writes nothing', async () => {
    const before = await count('messages');
    const err = await courier.messages.send({ channel: 'sms', to: '+15552220031', body: 'x' }, { tx: knex }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/messages\.send.*"tx" must be the transaction Knex passes to knex\.transaction/);
    await expect(courier.messages.sendBulk({ channel: 'sms', recipients: ['+15552220032'], template: 'x' }, { tx: drizzle(sql) })).rejects.toThrow(/"tx" must be/);
    expect(await count('messages')).toBe(before);
  });
});
