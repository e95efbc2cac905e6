// A local peer shaped like Meta's WhatsApp Cloud API: POST
// /{version}/{phone-number-id}/messages with a Bearer token, Graph error bodies
// ({ error: { code, type, message, error_data, fbtrace_id } }), a template
// registry, closed 24-hour windows (accepted, then failed 131047 by webhook), and
// a webhook emitter signing with X-Hub-Signature-256.
import { createHmac, randomBytes } from 'node:crypto';
import { json, type PeerRequest, type PeerRule, perform, Script, startRecordingServer } from './http.js';

/** A send request as the peer parsed it. */
export interface MetaSend {
  request: PeerRequest;
  body: Record<string, any>;
  to: string;
  wamid: string | null;
}

/** One webhook status the peer emits `delay` ms after an accepted send. */
export interface MetaStep {
  status: 'sent' | 'delivered' | 'read' | 'failed';
  delay: number;
  errorCode?: number;
}

/** The running peer. */
export interface MetaPeer {
  url: string;
  phoneNumberId: string;
  accessToken: string;
  appSecret: string;
  requests: PeerRequest[];
  sends: MetaSend[];
  /** Where webhooks go (our endpoint). */
  webhookUrl: string | null;
  /** Webhook POSTs sent, with our replies. */
  webhooks: Array<{ body: string; status: number; at: number }>;
  /** Approved templates: name → number of body parameters. */
  templates: Map<string, number>;
  /** Templates with a variable header: name:language → the header parameter's type (`image`, `document`, `video`, `text`). */
  templateHeaders: Map<string, string>;
  /** Templates that are paused (132015) or disabled (132016): name:language → code. */
  templateStates: Map<string, number>;
  /** Posts an inbound customer message (text) as Meta would, signed; returns our status. */
  postInbound(from: string, text: string): Promise<number>;
  /** Recipients whose customer-service window is closed (free-form → failed 131047). */
  closedWindows: Set<string>;
  lifecycle: (send: MetaSend) => MetaStep[];
  script(rule: PeerRule<MetaSend>): void;
  /** Signs and posts a webhook body as Meta would. */
  postWebhook(body: unknown, options?: { forge?: boolean }): Promise<number>;
  /** True when no webhook is scheduled or in flight. */
  settled(): boolean;
  close(): Promise<void>;
}

/** Meta's signature, computed independently. */
export function signMeta(appSecret: string, raw: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw, 'utf8').digest('hex')}`;
}

const graphError = (code: number, message: string, type = 'OAuthException') => ({
  error: { message: `(#${code}) ${message}`, type, code, error_data: { messaging_product: 'whatsapp', details: message }, fbtrace_id: randomBytes(8).toString('base64') },
});

/** A webhook body carrying one status. */
export function statusWebhook(phoneNumberId: string, s: { wamid: string; status: string; recipient: string; opaque?: string; errorCode?: number }) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '1029384756',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550001111', phone_number_id: phoneNumberId },
              statuses: [
                {
                  id: s.wamid,
                  status: s.status,
                  timestamp: String(Math.floor(Date.now() / 1000)),
                  recipient_id: s.recipient,
                  ...(s.opaque ? { biz_opaque_callback_data: s.opaque } : {}),
                  ...(s.errorCode ? { errors: [{ code: s.errorCode, title: s.errorCode === 131047 ? 'Re-engagement message' : 'Error', message: 'Message failed', error_data: { details: 'Message failed to send.' } }] } : {}),
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

/** Starts a Graph-shaped peer. */
export async function startMetaPeer(options: { phoneNumberId?: string; accessToken?: string; appSecret?: string } = {}): Promise<MetaPeer> {
  const phoneNumberId = options.phoneNumberId ?? '106540352242922';
  const accessToken = options.accessToken ?? 'EAAG-meta-access-token-secret';
  const appSecret = options.appSecret ?? 'meta-app-secret-value';
  const script = new Script<MetaSend>();
  const sends: MetaSend[] = [];
  const timers = new Set<NodeJS.Timeout>();

  let inflight = 0;
  const postWebhook = async (body: unknown, opts: { forge?: boolean } = {}) => {
    inflight++;
    try {
      return await postNow(body, opts);
    } finally {
      inflight--;
    }
  };
  const postNow = async (body: unknown, opts: { forge?: boolean }) => {
    if (!peer.webhookUrl) return 0;
    const raw = JSON.stringify(body);
    const res = await fetch(peer.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMeta(opts.forge ? 'wrong-secret' : appSecret, raw) },
      body: raw,
    }).catch(() => null);
    await res?.text().catch(() => '');
    peer.webhooks.push({ body: raw, status: res?.status ?? 0, at: Date.now() });
    return res?.status ?? 0;
  };

  const server = await startRecordingServer((req, res) => {
    const m = /^\/(v\d+\.\d+)\/(\d+)\/messages$/.exec(req.path);
    if (req.method !== 'POST' || !m) return json(res, 404, graphError(100, 'Unknown path', 'GraphMethodException'));
    if (req.headers.authorization !== `Bearer ${accessToken}`) return json(res, 401, graphError(190, 'Error validating access token'));
    if (m[2] !== phoneNumberId) return json(res, 400, graphError(100, 'Invalid phone number id'));
    let body: Record<string, any>;
    try {
      body = JSON.parse(req.raw.toString('utf8'));
    } catch {
      return json(res, 400, graphError(100, 'Invalid JSON'));
    }
    const send: MetaSend = { request: req, body, to: String(body.to ?? ''), wamid: null };
    sends.push(send);
    const scripted = script.take(send);
    if (scripted) return perform(res, scripted);
    if (body.messaging_product !== 'whatsapp' || !/^\d{6,15}$/.test(send.to) || !body.type || !body[body.type]) {
      return json(res, 400, graphError(100, 'Invalid parameter'));
    }
    if (['image', 'video', 'audio', 'document'].includes(body.type) && !/^https?:\/\//.test(String(body[body.type]?.link ?? ''))) {
      return json(res, 400, graphError(100, `Param ${body.type}['link'] is not a valid URL`));
    }
    if (body.type === 'audio' && body.audio?.caption !== undefined) return json(res, 400, graphError(100, 'Param audio[caption] is not supported'));
    if (body.type === 'template') {
      const tkey = `${body.template?.name}:${body.template?.language?.code}`;
      const count = peer.templates.get(tkey);
      if (count === undefined) return json(res, 404, graphError(132001, 'Template name does not exist in the translation'));
      const state = peer.templateStates.get(tkey);
      if (state === 132015) return json(res, 400, graphError(132015, 'Template is paused due to low quality'));
      if (state === 132016) return json(res, 400, graphError(132016, 'Template has been paused too many times and is now permanently disabled'));
      const headerType = peer.templateHeaders.get(tkey);
      const header = body.template?.components?.find((c: any) => c.type === 'header')?.parameters?.[0];
      if (headerType !== undefined && header?.type !== headerType) return json(res, 400, graphError(132012, 'Parameter format does not match format in the created template'));
      const params = body.template?.components?.find((c: any) => c.type === 'body')?.parameters ?? [];
      if (params.length !== count) return json(res, 400, graphError(132000, 'Number of parameters does not match the expected number of params'));
    }
    send.wamid = `wamid.${randomBytes(18).toString('base64url')}`;
    json(res, 200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: send.to, wa_id: send.to }],
      messages: [{ id: send.wamid, message_status: 'accepted' }],
    });
    const steps: MetaStep[] =
      body.type !== 'template' && peer.closedWindows.has(send.to) ? [{ status: 'failed', delay: 20, errorCode: 131047 }] : peer.lifecycle(send);
    for (const step of steps) {
      const t = setTimeout(() => {
        timers.delete(t);
        void postWebhook(statusWebhook(phoneNumberId, { wamid: send.wamid as string, status: step.status, recipient: send.to, opaque: body.biz_opaque_callback_data, errorCode: step.errorCode }));
      }, step.delay);
      timers.add(t);
    }
  });

  const peer: MetaPeer = {
    url: server.url,
    phoneNumberId,
    accessToken,
    appSecret,
    requests: server.requests,
    sends,
    webhookUrl: null,
    webhooks: [],
    templates: new Map([['order_shipped:en_US', 2]]),
    templateHeaders: new Map(),
    templateStates: new Map(),
    postInbound: (from, text) =>
      postWebhook({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: '1029384756',
            changes: [
              {
                field: 'messages',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: '15550001111', phone_number_id: phoneNumberId },
                  contacts: [{ profile: { name: 'Customer' }, wa_id: from }],
                  messages: [{ from, id: `wamid.${randomBytes(18).toString('base64url')}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
                },
              },
            ],
          },
        ],
      }),
    closedWindows: new Set(),
    lifecycle: () => [
      { status: 'sent', delay: 20 },
      { status: 'delivered', delay: 50 },
      { status: 'read', delay: 80 },
    ],
    script: (rule) => script.add(rule),
    postWebhook,
    settled: () => timers.size === 0 && inflight === 0,
    async close() {
      for (const t of timers) clearTimeout(t);
      await server.close();
    },
  };
  return peer;
}
