// A local peer shaped like Twilio's Messages API: POST
// /2010-04-01/Accounts/{sid}/Messages.json (form-encoded, Basic auth), JSON
// replies and error bodies as Twilio sends them, scripted failures, and a status
// callback emitter that signs each callback with X-Twilio-Signature.
import { createHmac, randomBytes } from 'node:crypto';
import { json, type PeerRequest, type PeerRule, perform, Script, startRecordingServer } from './http.js';

/** A create request as the peer parsed it. */
export interface TwilioCreate {
  request: PeerRequest;
  form: URLSearchParams;
  to: string;
  sid: string | null;
}

/** One step of a message's lifecycle: a status callback `delay` ms after the create. */
export interface LifecycleStep {
  status: string;
  delay: number;
  errorCode?: number;
}

/** A status callback the peer sent, with our endpoint's reply. */
export interface SentCallback {
  url: string;
  params: Record<string, string>;
  status: number;
  at: number;
}

/** The running peer. */
export interface TwilioPeer {
  url: string;
  accountSid: string;
  authToken: string;
  requests: PeerRequest[];
  /** Successful and failed create requests, in arrival order. */
  creates: TwilioCreate[];
  callbacks: SentCallback[];
  /** Numbers that replied STOP: creates to them get 400 / 21610. */
  optedOut: Set<string>;
  /** Numbers Twilio calls invalid: 400 / 21211. */
  invalid: Set<string>;
  /** Numbers whose create is accepted (the message exists) but whose reply is lost: the connection drops. */
  acceptThenDrop: Set<string>;
  script(rule: PeerRule<TwilioCreate>): void;
  /** Status callbacks sent after each accepted create (default: sent, then delivered). */
  lifecycle: (create: TwilioCreate) => LifecycleStep[];
  /** Send every callback twice. */
  duplicateCallbacks: boolean;
  /** A Webhooks Setting that signs every webhook instead of the auth token (a Webhooks Rule matched). */
  webhookSetting: { keySid: string; secret: string; algorithm: 'HMAC_SHA1' | 'HMAC_SHA256' } | null;
  /** Posts an inbound message (a customer texting our number) to `url`, signed as Twilio signs it; returns our status and body. */
  inbound(url: string, m: { from: string; to: string; body: string; messagingServiceSid?: string; optOutType?: string }): Promise<{ status: number; body: string }>;
  /** True when no status callback is scheduled or in flight. */
  settled(): boolean;
  close(): Promise<void>;
}

/** Twilio's signature, computed independently of the library's own implementation (HMAC-SHA1, or SHA-256 for a Webhooks Setting). */
export function signTwilio(key: string, url: string, params: Record<string, string>, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url);
  return createHmac(algorithm, key).update(Buffer.from(data, 'utf-8')).digest('base64');
}

/** Headers Twilio signs a webhook with: the auth token (SHA-1), or a Webhooks Setting's SharedKey with its settings header. */
export function twilioSignatureHeaders(authToken: string, url: string, params: Record<string, string>, setting: { keySid: string; secret: string; algorithm: 'HMAC_SHA1' | 'HMAC_SHA256' } | null): Record<string, string> {
  if (!setting) return { 'x-twilio-signature': signTwilio(authToken, url, params) };
  return {
    'x-twilio-signature': signTwilio(setting.secret, url, params, setting.algorithm === 'HMAC_SHA256' ? 'sha256' : 'sha1'),
    'x-twilio-webhooks-signature-settings': `key=${setting.keySid},algorithm=${setting.algorithm}`,
  };
}

/** Starts a Twilio-shaped peer. */
export async function startTwilioPeer(options: { accountSid?: string; authToken?: string } = {}): Promise<TwilioPeer> {
  const accountSid = options.accountSid ?? `AC${'0'.repeat(31)}1`;
  const authToken = options.authToken ?? 'twilio-auth-t0ken-secret';
  const script = new Script<TwilioCreate>();
  const creates: TwilioCreate[] = [];
  const callbacks: SentCallback[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

  let inflight = 0;
  const emit = async (create: TwilioCreate, step: LifecycleStep) => {
    inflight++;
    try {
      await emitNow(create, step);
    } finally {
      inflight--;
    }
  };
  const emitNow = async (create: TwilioCreate, step: LifecycleStep) => {
    const url = create.form.get('StatusCallback');
    if (!url || !create.sid) return;
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: '2010-04-01',
      From: create.form.get('From') ?? '',
      MessageSid: create.sid,
      MessageStatus: step.status,
      SmsSid: create.sid,
      SmsStatus: step.status,
      To: create.to,
    };
    if (step.errorCode) params.ErrorCode = String(step.errorCode);
    const token = randomBytes(8).toString('hex');
    const times = peer.duplicateCallbacks ? 2 : 1;
    for (let i = 0; i < times; i++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...twilioSignatureHeaders(authToken, url, params, peer.webhookSetting),
          'i-twilio-idempotency-token': token,
        },
        body: new URLSearchParams(params).toString(),
      }).catch(() => null);
      await res?.text().catch(() => '');
      callbacks.push({ url, params, status: res?.status ?? 0, at: Date.now() });
    }
  };

  const server = await startRecordingServer((req, res) => {
    const [path, query] = req.path.split('?') as [string, string | undefined];
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (!m || (req.method !== 'POST' && req.method !== 'GET')) return json(res, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    if (req.headers.authorization !== expectedAuth || m[1] !== accountSid) {
      return json(res, 401, { code: 20003, message: 'Authentication Error - invalid username', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    }
    if (req.method === 'GET') {
      // Message list, filtered as Twilio filters it: To, and DateSent> (a day).
      const q = new URLSearchParams(query ?? '');
      const since = q.get('DateSent>') ? Date.parse(`${q.get('DateSent>')}T00:00:00Z`) : 0;
      const messages = creates
        .filter((c) => c.sid && (!q.get('To') || c.to === q.get('To')) && c.request.at >= since)
        .map((c) => ({ sid: c.sid, to: c.to, from: c.form.get('From'), body: c.form.get('Body'), direction: 'outbound-api', status: 'sent', date_created: new Date(c.request.at).toUTCString() }));
      return json(res, 200, { messages, page: 0, page_size: Number(q.get('PageSize') ?? 50) });
    }
    const form = new URLSearchParams(req.raw.toString('utf8'));
    const to = form.get('To') ?? '';
    const create: TwilioCreate = { request: req, form, to, sid: null };
    creates.push(create);
    const scripted = script.take(create);
    if (scripted) return perform(res, scripted);
    const number = to.replace(/^whatsapp:/, '');
    if (!/^\+[1-9]\d{1,14}$/.test(number) || peer.invalid.has(number)) {
      return json(res, 400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.`, more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 });
    }
    if (peer.optedOut.has(number)) {
      return json(res, 400, { code: 21610, message: 'Attempt to send to unsubscribed recipient', more_info: 'https://www.twilio.com/docs/errors/21610', status: 400 });
    }
    if (!form.get('From') && !form.get('MessagingServiceSid')) return json(res, 400, { code: 21603, message: "A 'From' phone number is required.", status: 400 });
    if (!form.get('Body') && !form.get('MediaUrl') && !form.get('ContentSid')) return json(res, 400, { code: 21602, message: 'Message body is required.', status: 400 });
    create.sid = `${form.getAll('MediaUrl').length > 0 ? 'MM' : 'SM'}${randomBytes(16).toString('hex')}`;
    if (peer.acceptThenDrop.has(number)) {
      res.socket?.destroy();
      return;
    }
    json(res, 201, {
      sid: create.sid,
      account_sid: accountSid,
      messaging_service_sid: form.get('MessagingServiceSid'),
      to,
      from: form.get('From'),
      body: form.get('Body'),
      status: form.get('MessagingServiceSid') && !form.get('From') ? 'accepted' : 'queued',
      direction: 'outbound-api',
      num_segments: '1',
      num_media: String(form.getAll('MediaUrl').length),
      error_code: null,
      error_message: null,
      date_created: new Date().toUTCString(),
      api_version: '2010-04-01',
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${create.sid}.json`,
    });
    for (const step of peer.lifecycle(create)) {
      const t = setTimeout(() => {
        timers.delete(t);
        void emit(create, step);
      }, step.delay);
      timers.add(t);
    }
  });

  const peer: TwilioPeer = {
    url: server.url,
    accountSid,
    authToken,
    requests: server.requests,
    creates,
    callbacks,
    optedOut: new Set(),
    invalid: new Set(),
    acceptThenDrop: new Set(),
    script: (rule) => script.add(rule),
    lifecycle: () => [
      { status: 'sent', delay: 20 },
      { status: 'delivered', delay: 60 },
    ],
    duplicateCallbacks: false,
    webhookSetting: null,
    async inbound(url, m) {
      const sid = `SM${randomBytes(16).toString('hex')}`;
      const params: Record<string, string> = {
        AccountSid: accountSid,
        ApiVersion: '2010-04-01',
        Body: m.body,
        From: m.from,
        MessageSid: sid,
        NumMedia: '0',
        NumSegments: '1',
        SmsMessageSid: sid,
        SmsSid: sid,
        SmsStatus: 'received',
        To: m.to,
        ...(m.messagingServiceSid ? { MessagingServiceSid: m.messagingServiceSid } : {}),
        ...(m.optOutType ? { OptOutType: m.optOutType } : {}),
      };
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...twilioSignatureHeaders(authToken, url, params, peer.webhookSetting) },
        body: new URLSearchParams(params).toString(),
      });
      return { status: res.status, body: await res.text() };
    },
    settled: () => timers.size === 0 && inflight === 0,
    async close() {
      for (const t of timers) clearTimeout(t);
      await server.close();
    },
  };
  return peer;
}
