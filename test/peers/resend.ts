// A local peer shaped like Resend's POST /emails and GET /emails/{id}: Bearer
// auth, validation, an idempotency store keyed by Idempotency-Key that replays
// the first reply for 24 hours (409 on a different body; after 24 h the key is
// forgotten and the same request sends again), ratelimit-* headers, scripted
// failures, and requests accepted whose reply is lost.
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
  /** Emails actually created (replays excluded), with Resend's creation time and last event. */
  created: Array<{ id: string; body: Record<string, any>; createdAt: number; lastEvent: string }>;
  /** Recipients whose send is created (the email exists) but whose reply is lost: the connection drops. */
  acceptThenDrop: Set<string>;
  /** Recipients whose send takes this many milliseconds; meanwhile a request with the same key gets 409 `concurrent_idempotent_requests`. */
  slow: Map<string, number>;
  /** Moves the peer's clock back for what it holds (keys, creation times), as if `seconds` had passed. */
  age(seconds: number): void;
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
  const seen = new Map<string, { raw: string; status: number; body: unknown; at: number }>();
  const acceptThenDrop = new Set<string>();
  const slow = new Map<string, number>();
  const inFlight = new Set<string>();
  const KEY_TTL = 24 * 3600 * 1000;
  const limits = { 'ratelimit-limit': '5', 'ratelimit-remaining': '4', 'ratelimit-reset': '1' };

  const server = await startRecordingServer(async (req, res) => {
    const auth = req.headers.authorization;
    const getMatch = /^\/emails\/([^/?]+)$/.exec(req.path);
    if (!(req.method === 'POST' && req.path === '/emails') && !(req.method === 'GET' && getMatch)) return json(res, 404, { statusCode: 404, name: 'not_found', message: 'Not found' });
    if (!auth) return json(res, 401, { statusCode: 401, name: 'missing_api_key', message: 'Missing API key in the authorization header' });
    if (auth !== `Bearer ${apiKey}`) return json(res, 403, { statusCode: 403, name: 'invalid_api_key', message: 'API key is invalid' });
    if (getMatch) {
      const email = created.find((c) => c.id === decodeURIComponent(getMatch[1] as string));
      if (!email) return json(res, 404, { statusCode: 404, name: 'not_found', message: 'Email not found' }, limits);
      const b = email.body;
      return json(
        res,
        200,
        {
          object: 'email',
          id: email.id,
          to: b.to,
          from: b.from,
          created_at: new Date(email.createdAt).toISOString().replace('Z', '000+00:00'),
          subject: b.subject,
          html: b.html ?? null,
          text: b.text ?? null,
          bcc: b.bcc ?? null,
          cc: b.cc ?? null,
          reply_to: b.reply_to ? [b.reply_to] : null,
          last_event: email.lastEvent,
          scheduled_at: null,
          tags: b.tags ?? [],
        },
        limits,
      );
    }
    const raw = req.raw.toString('utf8');
    const key = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const body = JSON.parse(raw) as Record<string, any>;
    const send: ResendSend = { request: req, body, idempotencyKey: key };
    sends.push(send);
    if (key && inFlight.has(key)) {
      return json(res, 409, { statusCode: 409, name: 'concurrent_idempotent_requests', message: 'Same idempotency key used while original request is still in progress.' });
    }
    if (key) {
      const prior = seen.get(key);
      if (prior && Date.now() - prior.at >= KEY_TTL) seen.delete(key);
      else if (prior) {
        if (prior.raw !== raw) return json(res, 409, { statusCode: 409, name: 'invalid_idempotent_request', message: 'Same idempotency key used with a different request payload.' });
        return json(res, prior.status, prior.body, limits);
      }
    }
    const scripted = script.take(send);
    if (scripted) return perform(res, scripted);
    if (!body.from || !body.to || body.subject === undefined || (body.html === undefined && body.text === undefined)) {
      return json(res, 422, { statusCode: 422, name: 'validation_error', message: 'Missing required field' }, limits);
    }
    const delay = (body.to as string[]).map((to) => slow.get(to) ?? 0).reduce((a, b) => Math.max(a, b), 0);
    if (delay > 0) {
      if (key) inFlight.add(key);
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (key) inFlight.delete(key);
    }
    const id = randomUUID();
    created.push({ id, body, createdAt: Date.now(), lastEvent: 'sent' });
    if (key) seen.set(key, { raw, status: 200, body: { id }, at: Date.now() });
    if ((body.to as string[]).some((to) => acceptThenDrop.has(to))) return perform(res, { drop: true });
    json(res, 200, { id }, limits);
  });

  const peer: ResendPeer = {
    url: server.url,
    apiKey,
    requests: server.requests,
    sends,
    created,
    acceptThenDrop,
    slow,
    age(seconds) {
      for (const record of seen.values()) record.at -= seconds * 1000;
      for (const email of created) email.createdAt -= seconds * 1000;
    },
    script: (rule) => script.add(rule),
    webhookUrl: null,
    webhookSecret: 'whsec_cmVzZW5kLXdlYmhvb2stc2lnbmluZy1rZXktMDAwMQ==',
    async emit(emailId, type, data = {}, options = {}) {
      const email = created.find((c) => c.id === emailId);
      if (email) email.lastEvent = type.replace(/^email\./, '');
      if (!peer.webhookUrl) return 0;
      const original = email?.body ?? {};
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
