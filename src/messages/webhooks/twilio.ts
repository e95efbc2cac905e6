import type { Logger } from 'pino';
import { type Classified, classifyTwilio } from '../classify.js';
import { verifyTwilioSignature } from '../signatures.js';
import { fromTwilioStatus } from '../status.js';
import type { StatusEvent } from '../store.js';
import { readBody, text, uuidOrNull } from './body.js';

/** A status event with the classification of its error code, if any. */
export type ProviderStatusEvent = StatusEvent & { classified: Classified | null };

/** What the Twilio status webhook needs. */
export interface TwilioWebhookDeps {
  /** Auth token (null: Twilio not configured). */
  authToken: string | null;
  /** The configured public status callback URL, to rebuild the URL Twilio signed behind a proxy. */
  statusCallback: string | null;
  apply(event: ProviderStatusEvent): Promise<void>;
  logger: Logger;
}

/**
 * The URLs Twilio may have signed for this request: the request's own URL, and the
 * configured public callback's origin and path with the request's query string.
 */
export function twilioSignedUrls(requestUrl: string, statusCallback: string | null): string[] {
  const urls = [requestUrl];
  if (statusCallback) {
    try {
      const pub = new URL(statusCallback);
      const req = new URL(requestUrl);
      urls.push(`${pub.origin}${pub.pathname}${req.search}`);
    } catch {
      // keep the request URL only
    }
  }
  return urls;
}

/**
 * Twilio status callback (`POST`, form-encoded): verifies `X-Twilio-Signature` over
 * every parameter, then records the status once per (MessageSid, MessageStatus)
 * and moves the message forward only.
 */
export async function twilioWebhook(request: Request, deps: TwilioWebhookDeps): Promise<Response> {
  if (request.method !== 'POST') return text(405, 'method not allowed', { allow: 'POST' });
  if (!deps.authToken) return text(404, 'twilio is not configured');
  const raw = await readBody(request, 64 * 1024);
  if (raw === null) return text(413, 'payload too large');
  const params = [...new URLSearchParams(Buffer.from(raw).toString('utf8'))];
  const signature = request.headers.get('x-twilio-signature');
  if (!verifyTwilioSignature(deps.authToken, twilioSignedUrls(request.url, deps.statusCallback), params, signature)) {
    deps.logger.warn({ webhook: 'twilio' }, 'rejected a Twilio webhook with a missing or invalid signature');
    return text(403, 'invalid signature');
  }
  const get = (k: string) => params.find(([key]) => key === k)?.[1] ?? null;
  const sid = get('MessageSid') ?? get('SmsSid');
  const rawStatus = get('MessageStatus') ?? get('SmsStatus');
  const status = rawStatus ? fromTwilioStatus(rawStatus) : null;
  if (!sid || !rawStatus || !status) return new Response('<Response/>', { status: 200, headers: { 'content-type': 'text/xml' } });
  const errorCode = get('ErrorCode');
  const code = errorCode && /^\d+$/.test(errorCode) ? Number(errorCode) : null;
  await deps.apply({
    source: 'twilio',
    provider: 'twilio',
    eventKey: `${sid}:${rawStatus}`,
    status,
    errorCode: errorCode || null,
    errorText: get('ErrorMessage') ?? (errorCode ? `Twilio error ${errorCode}` : null),
    payload: Object.fromEntries(params),
    messageId: uuidOrNull(new URL(request.url).searchParams.get('m')),
    providerMessageId: sid,
    classified: code === null ? null : classifyTwilio({ status: 0, code }),
  });
  return new Response('<Response/>', { status: 200, headers: { 'content-type': 'text/xml' } });
}
