import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingCourier } from '../../src/messages/index.js';
import { type ResendPeer, startResendPeer } from '../peers/resend.js';
import { captureLogger, fastRetries, messagingCourier, taskRow, waitForStatus } from './helpers.js';

let peer: ResendPeer;
let courier: MessagingCourier;
const log = captureLogger();

beforeAll(async () => {
  peer = await startResendPeer();
  courier = await messagingCourier(
    { resend: { apiKey: peer.apiKey, from: 'Acme <noreply@acme.test>', baseUrl: peer.url, timeout: 5 }, rateLimits: { email: '50/s' }, sendTask: fastRetries },
    { logger: log.logger },
  );
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
});
afterAll(async () => {
  await courier.close({ grace: 1 });
  await peer.close();
});

describe('Resend', () => {
  it('posts the documented JSON with Bearer auth and an Idempotency-Key per message', async () => {
    const id = await courier.messages.send({
      channel: 'email',
      to: 'ana@example.test',
      subject: 'Receipt {{n}}',
      template: { html: '<p>Total: {{total}}</p>', text: 'Total: {{total}}' },
      variables: { n: 7, total: '<€12>' },
    });
    const m = await waitForStatus(courier, id, ['sent', 'failed', 'unknown']);
    expect(m.status).toBe('sent');
    const send = peer.sends.find((s) => s.body.to?.[0] === 'ana@example.test');
    expect(send?.request.headers.authorization).toBe(`Bearer ${peer.apiKey}`);
    expect(send?.idempotencyKey).toBe(`pgcourier:${id}`);
    expect(send?.body).toEqual({
      from: 'Acme <noreply@acme.test>',
      to: ['ana@example.test'],
      subject: 'Receipt 7',
      headers: { 'X-Courier-Message-Id': id },
      tags: [{ name: 'message_id', value: id }],
      html: '<p>Total: &#60;€12&#62;</p>',
      text: 'Total: <€12>',
    });
    expect(m.providerMessageId).toBe(peer.created.at(-1)?.id);
  });

  it('a dropped connection is retried under the same key: one email created (policy "retry")', async () => {
    peer.script({ match: (s) => s.body.to?.[0] === 'drop@example.test', action: { drop: true } });
    const id = await courier.messages.send({ channel: 'email', to: 'drop@example.test', subject: 'x', body: 'y' });
    const m = await waitForStatus(courier, id, ['sent', 'failed', 'unknown']);
    expect(m.status).toBe('sent');
    const sends = peer.sends.filter((s) => s.body.to?.[0] === 'drop@example.test');
    expect(sends.map((s) => s.idempotencyKey)).toEqual([`pgcourier:${id}`, `pgcourier:${id}`]);
    expect(peer.created.filter((c) => c.body.to[0] === 'drop@example.test')).toHaveLength(1);
    expect((await courier.messages.attempts(id)).map((a) => a.outcome)).toEqual(['ambiguous', 'ok']);
  });

  it('429 rate_limit_exceeded honours retry-after without using a retry', async () => {
    peer.script({ match: (s) => s.body.to?.[0] === 'slow@example.test', action: { status: 429, headers: { 'retry-after': '1' }, body: { statusCode: 429, name: 'rate_limit_exceeded', message: 'Too many requests' } } });
    const id = await courier.messages.send({ channel: 'email', to: 'slow@example.test', subject: 'x', body: 'y' });
    const m = await waitForStatus(courier, id, ['sent', 'failed'], 20_000);
    expect(m.status).toBe('sent');
    const sends = peer.sends.filter((s) => s.body.to?.[0] === 'slow@example.test');
    expect((sends[1]?.request.at ?? 0) - (sends[0]?.request.at ?? 0)).toBeGreaterThanOrEqual(1000);
    const t = await taskRow(courier, m.taskId);
    expect((t?.attempts ?? 0) - (t?.deferrals ?? 0)).toBe(1);
  });

  it('422 validation_error is permanent', async () => {
    peer.script({ match: (s) => s.body.to?.[0] === 'bad@example.test', action: { status: 422, body: { statusCode: 422, name: 'invalid_from_address', message: 'Invalid `from` field.' } } });
    const id = await courier.messages.send({ channel: 'email', to: 'bad@example.test', subject: 'x', body: 'y' });
    const m = await waitForStatus(courier, id, ['failed', 'sent']);
    expect(m.error).toEqual({ code: 'invalid_from_address', message: 'Invalid `from` field.' });
  });

  it('a provider error that echoes the API key is stored and logged redacted', async () => {
    peer.script({ match: (s) => s.body.to?.[0] === 'echo@example.test', action: { status: 422, body: { statusCode: 422, name: 'validation_error', message: `key ${peer.apiKey} may not send to this address` } } });
    const id = await courier.messages.send({ channel: 'email', to: 'echo@example.test', subject: 'x', body: 'y' });
    const m = await waitForStatus(courier, id, ['failed', 'sent']);
    expect(m.error?.message).toBe('key [redacted] may not send to this address');
    // The message is marked failed inside the attempt; the task's own outcome is written a moment later.
    const task = await courier.waitForTask(m.taskId as string, { timeout: 10 });
    const { rows } = await courier.pool.query(`SELECT last_error, errors::text FROM "${courier.schema}".tasks WHERE id = $1`, [task.id]);
    expect(`${rows[0].last_error} ${rows[0].errors}`).not.toContain(peer.apiKey);
    expect(log.text()).not.toContain(peer.apiKey);
  });
});
