import type { Logger } from 'pino';
import { classifyMeta } from '../classify.js';
import { safeEqual, verifyMetaSignature } from '../signatures.js';
import { fromMetaStatus } from '../status.js';
import { readBody, text, uuidOrNull } from './body.js';
import type { ProviderStatusEvent } from './twilio.js';

/** What the Meta webhook needs. */
export interface MetaWebhookDeps {
  /** App secret (null: signatures cannot be checked, events are refused). */
  appSecret: string | null;
  /** Token expected in the `hub.verify_token` handshake. */
  verifyToken: string | null;
  apply(event: ProviderStatusEvent): Promise<void>;
  logger: Logger;
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
    return text(403, 'verification failed');
  }
  if (request.method !== 'POST') return text(405, 'method not allowed', { allow: 'GET, POST' });
  if (!deps.appSecret) return text(404, 'whatsapp webhooks are not configured (appSecret)');
  const raw = await readBody(request, 1024 * 1024);
  if (raw === null) return text(413, 'payload too large');
  if (!verifyMetaSignature(deps.appSecret, raw, request.headers.get('x-hub-signature-256'))) {
    deps.logger.warn({ webhook: 'meta' }, 'rejected a Meta webhook with a missing or invalid signature');
    return text(403, 'invalid signature');
  }
  let body: { object?: string; entry?: Array<{ changes?: Array<{ field?: string; value?: { statuses?: MetaStatus[] } }> }> };
  try {
    body = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return text(400, 'invalid JSON');
  }
  for (const entry of body.entry ?? []) {
    for (const change of entry.changes ?? []) {
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
