// Reconciling `unknown` Resend emails (issue 14) against the Resend peer, which
// keeps idempotency keys 24 hours and serves GET /emails/{id}: a request Resend
// received is found without a second email; one it never received is sent by the
// idempotent re-post, exactly once; past 24 hours nothing is posted; the HTTP route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpHandler } from '../../src/http/index.js';
import type { MessagingCourier } from '../../src/messages/index.js';
import { waitFor } from '../helpers/db.js';
import { listen } from '../http/helpers.js';
import { type ResendPeer, startResendPeer } from '../peers/resend.js';
import { fastRetries, messagingCourier, waitForStatus } from './helpers.js';

const TOKEN = 'resend-reconcile-token-0123456789abcdef';
let peer: ResendPeer;
let courier: MessagingCourier;
let server: Awaited<ReturnType<typeof listen>>;
let base = '';
let n = 0;
const address = () => `r${++n}@example.test`;

beforeAll(async () => {
  peer = await startResendPeer();
  courier = await messagingCourier({
    // 'unknown': an ambiguous request is not retried by the send task, so reconcile has something to do.
    resend: { apiKey: peer.apiKey, from: 'Acme <noreply@acme.test>', baseUrl: peer.url, timeout: 5, ambiguous: 'unknown' },
    unsubscribe: { url: 'https://app.example.test/courier/unsubscribe', secret: 'unsubscribe-signing-secret-0001' },
    rateLimits: { email: '50/s' },
    sendTask: fastRetries,
  });
  await courier.start({ pollInterval: 0.1, concurrency: 4 });
  const api = createHttpHandler(courier, { basePath: '/courier', auth: { token: TOKEN } });
  server = await listen(api.node);
  base = `${server.url}/courier`;
});
afterAll(async () => {
  await server.close();
  await courier.close({ grace: 1 });
  await peer.close();
});

const posts = (to: string) => peer.sends.filter((s) => s.body.to?.[0] === to);
const emails = (to: string) => peer.created.filter((c) => c.body.to[0] === to);

/** An email whose request went out and whose reply never came: `unknown`. */
async function unknownEmail(to: string, received: boolean): Promise<string> {
  if (received) peer.acceptThenDrop.add(to);
  else peer.script({ match: (s) => s.body.to?.[0] === to, action: { drop: true } });
  const id = await courier.messages.send({
    channel: 'email',
    to,
    subject: 'Receipt {{n}}',
    template: { html: '<p>Total {{total}}</p>', text: 'Total {{total}}' },
    variables: { n: 7, total: '12 €' },
    cc: ['copy@example.test'],
    replyTo: 'help@acme.test',
    headers: { 'X-Campaign': 'november' },
    unsubscribe: true,
  });
  expect((await waitForStatus(courier, id, ['unknown', 'sent', 'failed'])).status).toBe('unknown');
  peer.acceptThenDrop.delete(to);
  return id;
}

describe('courier.messages.reconcile() with Resend', () => {
  it('an email Resend received (reply lost) is found by the re-post under its Idempotency-Key: no second email', async () => {
    const to = address();
    const id = await unknownEmail(to, true);
    expect(emails(to)).toHaveLength(1);
    const original = emails(to)[0];

    const r = await courier.messages.reconcile(id);
    expect(r).toEqual({ outcome: 'found', providerMessageId: original?.id });
    // The same request again, byte for byte (Resend answers 409 to a different body under the same key), and nothing new created.
    const [first, again] = posts(to);
    expect(again?.idempotencyKey).toBe(`pgcourier:${id}`);
    expect(again?.request.raw.equals(first?.request.raw as Buffer)).toBe(true);
    expect(again?.body.headers['List-Unsubscribe']).toMatch(/^<https:\/\/app\.example\.test\/courier\/unsubscribe\?/);
    expect(emails(to)).toHaveLength(1);
    expect(await courier.messages.get(id)).toMatchObject({ status: 'sent', providerMessageId: original?.id, error: null });
    // Recorded as what happened: a ledger entry for the re-post, and an event saying Resend had it.
    expect((await courier.messages.attempts(id)).map((a) => [a.outcome, a.taskId === null, a.providerMessageId])).toEqual([
      ['ambiguous', false, null],
      ['ok', true, original?.id],
    ]);
    const events = await courier.messages.events(id);
    expect(events.at(-1)).toMatchObject({ source: 'manual', status: 'sent', applied: true });
    expect(events.at(-1)?.note).toMatch(/had received it as .*the re-post under its idempotency key sent nothing/);
    await expect(courier.messages.reconcile(id)).rejects.toThrow(/only unknown/);
  });

  it('an email Resend never received is sent by the re-post, once, and recorded as sent now', async () => {
    const to = address();
    const id = await unknownEmail(to, false);
    expect(emails(to)).toHaveLength(0);

    const r = await courier.messages.reconcile(id);
    expect(emails(to)).toHaveLength(1);
    expect(r).toEqual({ outcome: 'sent', providerMessageId: emails(to)[0]?.id });
    expect(posts(to).map((s) => s.idempotencyKey)).toEqual([`pgcourier:${id}`, `pgcourier:${id}`]);
    expect(await courier.messages.get(id)).toMatchObject({ status: 'sent', providerMessageId: emails(to)[0]?.id });
    expect((await courier.messages.events(id)).at(-1)?.note).toMatch(/had not received it; sent now as/);
    // Resend's delivery webhooks then apply as usual; a later duplicate request is still a replay.
    expect(emails(to)).toHaveLength(1);
  });

  it('a re-post that gets no reply leaves it unknown (unavailable); the next reconcile within 24 h sends it once', async () => {
    const to = address();
    const id = await unknownEmail(to, false);
    peer.script({ match: (s) => s.body.to?.[0] === to, action: { drop: true } });
    const r = await courier.messages.reconcile(id);
    expect(r.outcome).toBe('unavailable');
    expect(r.detail).toMatch(/^resend: /);
    expect(await courier.messages.get(id)).toMatchObject({ status: 'unknown' });
    expect(emails(to)).toHaveLength(0);
    expect(await courier.messages.reconcile(id)).toEqual({ outcome: 'sent', providerMessageId: emails(to)[0]?.id });
    expect(emails(to)).toHaveLength(1);
    expect((await courier.messages.attempts(id)).map((a) => a.outcome)).toEqual(['ambiguous', 'ambiguous', 'ok']);
  });

  it('while Resend still processes the first request, the re-post gets 409 concurrent_idempotent_requests: unavailable; later, found', async () => {
    // A courier that gives up after 1 s while Resend takes 4 s: the first request is still in flight at Resend.
    const quick = await messagingCourier({
      resend: { apiKey: peer.apiKey, from: 'Acme <noreply@acme.test>', baseUrl: peer.url, timeout: 1, ambiguous: 'unknown' },
      rateLimits: { email: '50/s' },
      sendTask: fastRetries,
    });
    try {
      const to = address();
      peer.slow.set(to, 4000);
      const id = await quick.messages.send({ channel: 'email', to, subject: 'Slow', body: 'in flight' });
      await quick.runOnce({ limit: 1 });
      expect((await quick.messages.get(id))?.status).toBe('unknown');
      expect(emails(to)).toHaveLength(0);
      const r = await quick.messages.reconcile(id);
      expect(r).toMatchObject({ outcome: 'unavailable' });
      expect(r.detail).toMatch(/concurrent_idempotent_requests/);
      expect(await quick.messages.get(id)).toMatchObject({ status: 'unknown' });
      await waitFor(() => emails(to).length === 1);
      expect(await quick.messages.reconcile(id)).toEqual({ outcome: 'found', providerMessageId: emails(to)[0]?.id });
      expect(emails(to)).toHaveLength(1);
      expect((await quick.messages.attempts(id)).map((a) => a.outcome)).toEqual(['ambiguous', 'retry', 'ok']);
    } finally {
      await quick.close({ grace: 1 });
    }
  });

  it('the re-post takes a slot under the send rate: with the rate used up it answers unavailable and posts nothing', async () => {
    const limited = await messagingCourier({
      resend: { apiKey: peer.apiKey, from: 'Acme <noreply@acme.test>', baseUrl: peer.url, timeout: 5, ambiguous: 'unknown' },
      rateLimits: { email: '1/h' },
      gates: { maxWait: 0 },
      sendTask: fastRetries,
    });
    try {
      const to = address();
      peer.script({ match: (s) => s.body.to?.[0] === to, action: { drop: true } });
      const id = await limited.messages.send({ channel: 'email', to, subject: 'Rated', body: 'one an hour' });
      await limited.runOnce({ limit: 1 });
      expect((await limited.messages.get(id))?.status).toBe('unknown');
      const r = await limited.messages.reconcile(id);
      expect(r.outcome).toBe('unavailable');
      expect(r.detail).toMatch(/send rate is used up; try again in \d+ s/);
      expect(posts(to)).toHaveLength(1);
      expect(await limited.messages.attempts(id)).toHaveLength(1);
    } finally {
      await limited.close({ grace: 1 });
    }
  });

  it('past 24 hours from the first request nothing is posted: expired, still unknown', async () => {
    const to = address();
    const id = await unknownEmail(to, true);
    const before = posts(to).length;
    // A day and a minute pass, for our ledger and for Resend.
    await courier.pool.query(`UPDATE "${courier.schema}".message_attempts SET started_at = started_at - interval '24 hours 1 minute' WHERE message_id = $1`, [id]);
    peer.age(86_460);

    const r = await courier.messages.reconcile(id);
    expect(r.outcome).toBe('expired');
    expect(r.detail).toMatch(/24\.0 h ago; resend keeps idempotency keys for 24 h, so posting again could send a second copy/);
    expect(posts(to)).toHaveLength(before);
    expect(await courier.messages.get(id)).toMatchObject({ status: 'unknown' });
    expect((await courier.messages.events(id)).at(-1)?.note).toMatch(/^reconcile: the first request to resend was/);
    // Posting now would indeed have sent a second email: Resend forgot the key.
    expect(emails(to)).toHaveLength(1);
  });

  it('just inside the window (23 h) it still re-posts and finds the original', async () => {
    const to = address();
    const id = await unknownEmail(to, true);
    await courier.pool.query(`UPDATE "${courier.schema}".message_attempts SET started_at = started_at - interval '23 hours' WHERE message_id = $1`, [id]);
    peer.age(23 * 3600);
    expect(await courier.messages.reconcile(id)).toEqual({ outcome: 'found', providerMessageId: emails(to)[0]?.id });
    expect(emails(to)).toHaveLength(1);
  });

  it("when Resend's id is known it asks GET /emails/{id} and posts nothing", async () => {
    const to = address();
    const id = await unknownEmail(to, true);
    const emailId = emails(to)[0]?.id as string;
    await peer.emit(emailId, 'email.delivery_delayed');
    // Resend's id recorded without a status move (as a webhook of another process could leave it).
    await courier.pool.query(`UPDATE "${courier.schema}".messages SET provider_message_id = $2 WHERE id = $1`, [id, emailId]);
    const before = posts(to).length;
    expect(await courier.messages.reconcile(id)).toEqual({ outcome: 'found', providerMessageId: emailId, detail: 'last event: delivery_delayed' });
    expect(posts(to)).toHaveLength(before);
    expect(peer.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toContain(`/emails/${emailId}`);
    expect((await courier.messages.get(id))?.status).toBe('sent');
  });

  it('a known id Resend does not have (GET 404) is not_found: nothing posted, still unknown', async () => {
    const to = address();
    const id = await unknownEmail(to, false);
    await courier.pool.query(`UPDATE "${courier.schema}".messages SET provider_message_id = $2 WHERE id = $1`, [id, '4ef9a417-02e9-4d39-ad75-9611e0fcc33c']);
    expect(await courier.messages.reconcile(id)).toEqual({ outcome: 'not_found' });
    expect(posts(to)).toHaveLength(1);
    expect(await courier.messages.get(id)).toMatchObject({ status: 'unknown' });
  });
});

describe('POST /messages/{id}/reconcile for a Resend email', () => {
  const call = (path: string, token = TOKEN) => fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

  it('answers the outcome as JSON and moves the message; a second call is 409', async () => {
    const to = address();
    const id = await unknownEmail(to, false);
    expect((await call(`/messages/${id}/reconcile`, 'wrong-token-0123456789abcdef0')).status).toBe(401);
    expect(emails(to)).toHaveLength(0);
    const res = await call(`/messages/${id}/reconcile`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ outcome: 'sent', providerMessageId: emails(to)[0]?.id });
    expect(emails(to)).toHaveLength(1);
    const again = await call(`/messages/${id}/reconcile`);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toMatch(/only unknown/);
  });

  it('answers expired past 24 hours', async () => {
    const to = address();
    const id = await unknownEmail(to, false);
    await courier.pool.query(`UPDATE "${courier.schema}".message_attempts SET started_at = started_at - interval '25 hours' WHERE message_id = $1`, [id]);
    const res = await call(`/messages/${id}/reconcile`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: 'expired' });
    expect(posts(to)).toHaveLength(1);
  });
});
