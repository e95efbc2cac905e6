import type { Logger } from 'pino';
import { verifyStandardWebhook } from '../signatures.js';
import type { MessageStatus } from '../types.js';
import { problem, readBody, text, uuidOrNull, WEBHOOK_BODY_LIMIT } from './body.js';
import type { ProviderStatusEvent } from './twilio.js';

/** What the Resend webhook needs. */
export interface ResendWebhookDeps {
  /** The endpoint's signing secret (`whsec_…`); null: not configured. */
  secret: string | null;
  apply(event: ProviderStatusEvent): Promise<void>;
  logger: Logger;
  /** Largest body accepted (default 256 KiB). */
  maxBytes?: number;
}

interface ResendEvent {
  type?: string;
  created_at?: string;
  data?: {
    email_id?: string;
    to?: string[];
    tags?: ResendTags;
    bounce?: { type?: string; subType?: string; message?: string };
  };
}

/** Our status for a Resend event type, or `null` for types that say nothing about delivery. */
export function fromResendEvent(type: string): MessageStatus | null {
  switch (type) {
    case 'email.sent':
    case 'email.delivery_delayed':
      return 'sent';
    case 'email.delivered':
    case 'email.complained':
      return 'delivered';
    case 'email.opened':
    case 'email.clicked':
      return 'read';
    case 'email.bounced':
    case 'email.failed':
      return 'undelivered';
    default:
      return null;
  }
}

type ResendTags = Record<string, string> | Array<{ name?: string; value?: string }> | undefined;

function tagValue(tags: ResendTags, name: string): string | undefined {
  if (Array.isArray(tags)) return tags.find((t) => t.name === name)?.value;
  return tags?.[name];
}

/**
 * Resend delivery webhooks, signed by Svix (`svix-id`, `svix-timestamp`,
 * `svix-signature: v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`, 5-minute
 * tolerance). `email.delivered` / `email.bounced` / `email.complained` /
 * `email.delivery_delayed` / `email.opened` move the email past `sent` (forward
 * only); a permanent bounce or a complaint suppresses the recipient.
 */
export async function resendWebhook(request: Request, deps: ResendWebhookDeps): Promise<Response> {
  if (request.method !== 'POST') return problem(405, 'Resend webhooks are POST requests', { allow: 'POST' });
  if (!deps.secret) return problem(404, 'Resend webhooks are not configured (resend.webhookSecret)');
  const raw = await readBody(request, deps.maxBytes ?? WEBHOOK_BODY_LIMIT);
  if (raw === null) return problem(413, 'the webhook body is larger than the limit');
  const h = request.headers;
  const check = verifyStandardWebhook(deps.secret, { id: h.get('svix-id') ?? h.get('webhook-id'), timestamp: h.get('svix-timestamp') ?? h.get('webhook-timestamp'), signature: h.get('svix-signature') ?? h.get('webhook-signature') }, raw);
  if (check !== 'ok') {
    deps.logger.warn({ webhook: 'resend', check }, 'rejected a Resend webhook with a missing, invalid or stale signature');
    return problem(401, check === 'expired' ? 'svix-timestamp is outside the tolerance' : 'missing or invalid svix-signature');
  }
  let event: ResendEvent;
  try {
    event = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return problem(400, 'the body is not JSON');
  }
  const type = event.type ?? '';
  const status = fromResendEvent(type);
  const emailId = event.data?.email_id;
  if (!status || !emailId) return text(200, 'OK');
  const bounce = event.data?.bounce;
  const hard = type === 'email.bounced' && /^permanent$/i.test(bounce?.type ?? '');
  const code = type === 'email.complained' ? 'complaint' : type === 'email.bounced' ? `bounce:${(bounce?.type ?? 'unknown').toLowerCase()}` : type === 'email.failed' ? 'failed' : null;
  await deps.apply({
    source: 'resend',
    provider: 'resend',
    eventKey: `${emailId}:${type}`,
    status,
    errorCode: code,
    errorText: code === null ? null : (bounce?.message ?? (type === 'email.complained' ? 'the recipient marked the email as spam' : type)).slice(0, 500),
    payload: event,
    messageId: uuidOrNull(tagValue(event.data?.tags, 'message_id')),
    providerMessageId: emailId,
    classified:
      hard || type === 'email.complained'
        ? { outcome: 'permanent_recipient', code, message: type }
        : null,
  });
  return text(200, 'OK');
}
