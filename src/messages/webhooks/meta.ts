import type { Logger } from 'pino';
import { normalizePhone } from '../channels.js';
import { classifyMeta } from '../classify.js';
import { inboundKeyword } from '../inbound.js';
import { safeEqual, verifyMetaSignature } from '../signatures.js';
import { fromMetaStatus } from '../status.js';
import { problem, readBody, text, uuidOrNull, WEBHOOK_BODY_LIMIT } from './body.js';
import type { InboundEvent, ProviderStatusEvent } from './twilio.js';

/** What the Meta webhook needs. */
export interface MetaWebhookDeps {
  /** App secret (null: signatures cannot be checked, events are refused). */
  appSecret: string | null;
  /** Token expected in the `hub.verify_token` handshake. */
  verifyToken: string | null;
  apply(event: ProviderStatusEvent): Promise<void>;
  inbound(event: InboundEvent): Promise<void>;
  logger: Logger;
  /** Largest body accepted (default 256 KiB). */
  maxBytes?: number;
}

interface MetaInbound {
  id?: string;
  from?: string;
  type?: string;
  text?: { body?: string };
  button?: { text?: string; payload?: string };
  interactive?: { button_reply?: { title?: string }; list_reply?: { title?: string } };
}

interface MetaStatus {
  id?: string;
  status?: string;
  timestamp?: string;
  recipient_id?: string;
  biz_opaque_callback_data?: string;
  errors?: Array<{ code?: number; title?: string; message?: string; error_data?: { details?: string } }>;
}

/**
 * Meta WhatsApp webhook. `GET` answers the `hub.challenge` handshake when
 * `hub.verify_token` matches; `POST` verifies `X-Hub-Signature-256` over the raw
 * body, then applies each `statuses[]` entry once per (wamid, status).
 */
export async function metaWebhook(request: Request, deps: MetaWebhookDeps): Promise<Response> {
  if (request.method === 'GET') {
    const q = new URL(request.url).searchParams;
    const token = q.get('hub.verify_token');
    const challenge = q.get('hub.challenge');
    if (q.get('hub.mode') === 'subscribe' && deps.verifyToken && token && challenge !== null && safeEqual(token, deps.verifyToken)) {
      return text(200, challenge);
    }
    return problem(403, 'hub.verify_token does not match');
  }
  if (request.method !== 'POST') return problem(405, 'WhatsApp webhooks are GET (verification) or POST (events)', { allow: 'GET, POST' });
  if (!deps.appSecret) return problem(404, 'WhatsApp webhooks are not configured (appSecret)');
  const raw = await readBody(request, deps.maxBytes ?? WEBHOOK_BODY_LIMIT);
  if (raw === null) return problem(413, 'the webhook body is larger than the limit');
  if (!verifyMetaSignature(deps.appSecret, raw, request.headers.get('x-hub-signature-256'))) {
    deps.logger.warn({ webhook: 'meta' }, 'rejected a Meta webhook with a missing or invalid signature');
    return problem(401, 'missing or invalid X-Hub-Signature-256');
  }
  let body: { object?: string; entry?: Array<{ changes?: Array<{ field?: string; value?: { statuses?: MetaStatus[]; messages?: MetaInbound[]; errors?: MetaStatus['errors']; metadata?: { phone_number_id?: string } } }> }> };
  try {
    body = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return problem(400, 'the body is not JSON');
  }
  for (const entry of body.entry ?? []) {
    for (const change of entry.changes ?? []) {
      const phoneNumberId = change.value?.metadata?.phone_number_id;
      for (const err of change.value?.errors ?? []) {
        deps.logger.warn({ webhook: 'meta', code: err.code, title: err.title, details: err.error_data?.details }, 'WhatsApp reported an error for the business account');
      }
      for (const msg of change.value?.messages ?? []) {
        const recipient = msg.from ? normalizePhone(`+${msg.from}`) : null;
        if (!msg.id || !recipient || !phoneNumberId) continue;
        const said = msg.text?.body ?? msg.button?.text ?? msg.interactive?.button_reply?.title ?? msg.interactive?.list_reply?.title ?? null;
        await deps.inbound({ channel: 'whatsapp', provider: 'meta', providerMessageId: msg.id, recipient, senders: [phoneNumberId], body: said, keyword: inboundKeyword(said) });
      }
      for (const st of change.value?.statuses ?? []) {
        const status = st.status ? fromMetaStatus(st.status) : null;
        if (!status || !st.id) continue;
        const err = st.errors?.[0];
        const code = typeof err?.code === 'number' ? err.code : null;
        await deps.apply({
          source: 'meta',
          provider: 'meta',
          eventKey: `${st.id}:${st.status}`,
          status,
          errorCode: code === null ? null : String(code),
          errorText: err ? [err.title ?? err.message, err.error_data?.details].filter(Boolean).join(': ') || null : null,
          payload: st,
          messageId: uuidOrNull(st.biz_opaque_callback_data),
          providerMessageId: st.id,
          classified: code === null ? null : classifyMeta({ status: 0, code }),
        });
      }
    }
  }
  return text(200, 'EVENT_RECEIVED');
}
