// A local peer shaped like Resend's POST /emails: Bearer auth, validation, an
// idempotency store keyed by (api key, Idempotency-Key) that replays the first
// reply (409 on a different body), ratelimit-* headers, scripted failures.
import { createHmac, randomUUID } from 'node:crypto';
import { json, type PeerRequest, type PeerRule, perform, Script, startRecordingServer } from './http.js';

/** A send request as the peer parsed it. */
export interface ResendSend {
  request: PeerRequest;
  body: Record<string, any>;
  idempotencyKey: string | null;
}

/** The running peer. */
export interface ResendPeer {
  url: string;
  apiKey: string;
  requests: PeerRequest[];
  sends: ResendSend[];
  /** Emails actually created (replays excluded). */
  created: Array<{ id: string; body: Record<string, any> }>;
  script(rule: PeerRule<ResendSend>): void;
  /** Where delivery webhooks go (our endpoint), and the endpoint's signing secret. */
  webhookUrl: string | null;
  webhookSecret: string;
  /** Posts a delivery event for a created email, signed as Svix signs Resend's webhooks; returns our status. */
  emit(emailId: string, type: string, data?: Record<string, unknown>, options?: { forge?: boolean; timestamp?: number }): Promise<number>;
  close(): Promise<void>;
}

/** Svix's signature, written out independently: v1,base64(HMAC-SHA256(base64-decoded secret, id.timestamp.body)). */
export function signSvix(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** Starts a Resend-shaped peer. */
export async function startResendPeer(options: { apiKey?: string } = {}): Promise<ResendPeer> {
  const apiKey = options.apiKey ?? 're_test_resend_api_key_secret';
  const script = new Script<ResendSend>();
  const sends: ResendSend[] = [];
  const created: ResendPeer['created'] = [];
  const seen = new Map<string, { raw: string; status: number; body: unknown }>();
  const limits = { 'ratelimit-limit': '5', 'ratelimit-remaining': '4', 'ratelimit-reset': '1' };

  const server = await startRecordingServer((req, res) => {
    if (req.method !== 'POST' || req.path !== '/emails') return json(res, 404, { statusCode: 404, name: 'not_found', message: 'Not found' });
    const auth = req.headers.authorization;
    if (!auth) return json(res, 401, { statusCode: 401, name: 'missing_api_key', message: 'Missing API key in the authorization header' });
    if (auth !== `Bearer ${apiKey}`) return json(res, 403, { statusCode: 403, name: 'invalid_api_key', message: 'API key is invalid' });
    const raw = req.raw.toString('utf8');
    const key = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const body = JSON.parse(raw) as Record<string, any>;
    const send: ResendSend = { request: req, body, idempotencyKey: key };
    sends.push(send);
    if (key) {
      const prior = seen.get(key);
      if (prior) {
        if (prior.raw !== raw) return json(res, 409, { statusCode: 409, name: 'invalid_idempotent_request', message: 'Same idempotency key used with a different request payload.' });
        return json(res, prior.status, prior.body, limits);
      }
    }
    const scripted = script.take(send);
    if (scripted) return perform(res, scripted);
    if (!body.from || !body.to || body.subject === undefined || (body.html === undefined && body.text === undefined)) {
      return json(res, 422, { statusCode: 422, name: 'validation_error', message: 'Missing required field' }, limits);
    }
    const id = randomUUID();
    created.push({ id, body });
    if (key) seen.set(key, { raw, status: 200, body: { id } });
    json(res, 200, { id }, limits);
  });

  const peer: ResendPeer = {
    url: server.url,
    apiKey,
    requests: server.requests,
    sends,
    created,
    script: (rule) => script.add(rule),
    webhookUrl: null,
    webhookSecret: 'whsec_cmVzZW5kLXdlYmhvb2stc2lnbmluZy1rZXktMDAwMQ==',
    async emit(emailId, type, data = {}, options = {}) {
      if (!peer.webhookUrl) return 0;
      const original = created.find((c) => c.id === emailId)?.body ?? {};
      const body = JSON.stringify({
        type,
        created_at: new Date().toISOString(),
        data: { email_id: emailId, from: original.from, to: original.to, subject: original.subject, created_at: new Date().toISOString(), tags: Object.fromEntries((original.tags ?? []).map((t: { name: string; value: string }) => [t.name, t.value])), ...data },
      });
      const id = `msg_${randomUUID().replaceAll('-', '')}`;
      const ts = options.timestamp ?? Math.floor(Date.now() / 1000);
      const res = await fetch(peer.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'svix-id': id, 'svix-timestamp': String(ts), 'svix-signature': signSvix(options.forge ? 'whsec_Zm9yZ2Vk' : peer.webhookSecret, id, ts, body) },
        body,
      });
      await res.text();
      return res.status;
    },
    close: server.close,
  };
  return peer;
}
