import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { type Classified, classifyTwilio } from '../classify.js';
import { type InboundKeyword, inboundKeyword } from '../inbound.js';
import { twilioSignatureSettings, verifyTwilioSignature } from '../signatures.js';
import { fromTwilioStatus } from '../status.js';
import type { StatusEvent } from '../store.js';
import { problem, readBody, uuidOrNull, WEBHOOK_BODY_LIMIT } from './body.js';

/** A status event with the classification of its error code, if any. */
export type ProviderStatusEvent = StatusEvent & { classified: Classified | null };

/** A message a customer sent us (a reply, STOP, START, HELP). */
export interface InboundEvent {
  channel: string;
  provider: string;
  providerMessageId: string;
  /** The customer (normalised E.164 number). */
  recipient: string;
  /** Our numbers or sender ids the customer wrote to (a number, and its messaging service). */
  senders: string[];
  body: string | null;
  keyword: InboundKeyword | null;
}

/** What the Twilio webhook needs. */
export interface TwilioWebhookDeps {
  /** Auth token (null: Twilio not configured). */
  authToken: string | null;
  /** SharedKey secret of a Webhooks Setting (HMAC-SHA256 signing), if any. */
  signingKey: string | null;
  /** The configured public status callback URL, to rebuild the URL Twilio signed behind a proxy. */
  statusCallback: string | null;
  apply(event: ProviderStatusEvent): Promise<void>;
  inbound(event: InboundEvent): Promise<void>;
  logger: Logger;
  /** Largest body accepted (default 256 KiB). */
  maxBytes?: number;
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

const TWIML_EMPTY = () => new Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', { status: 200, headers: { 'content-type': 'text/xml' } });

/**
 * Twilio webhook (`POST`, form-encoded): status callbacks and inbound messages.
 * Verifies `X-Twilio-Signature` — HMAC-SHA1 with the auth token, or, when
 * `X-Twilio-Webhooks-Signature-Settings` names one, the Webhooks Setting's
 * algorithm (HMAC_SHA256) with its SharedKey — over the URL and every parameter
 * (or, for JSON bodies, the URL with `bodySHA256` and the body's hash). A status
 * is recorded once per (MessageSid, MessageStatus) and moves its message forward
 * only; an inbound message is recorded once and applies STOP / START / HELP.
 * Errors are `application/problem+json`; success is the empty TwiML Twilio expects.
 */
export async function twilioWebhook(request: Request, deps: TwilioWebhookDeps): Promise<Response> {
  if (request.method !== 'POST') return problem(405, 'Twilio webhooks are POST requests', { allow: 'POST' });
  if (!deps.authToken) return problem(404, 'Twilio is not configured');
  const raw = await readBody(request, deps.maxBytes ?? WEBHOOK_BODY_LIMIT);
  if (raw === null) return problem(413, 'the webhook body is larger than the limit');
  const body = Buffer.from(raw).toString('utf8');
  const url = new URL(request.url);
  const bodyHash = url.searchParams.get('bodySHA256');
  const params: Array<[string, string]> = bodyHash === null ? [...new URLSearchParams(body)] : [];
  const settings = twilioSignatureSettings(request.headers.get('x-twilio-webhooks-signature-settings'));
  const signature = request.headers.get('x-twilio-signature');
  let valid = false;
  if (settings === 'unsupported') valid = false;
  else if (settings === null) valid = verifyTwilioSignature(deps.authToken, twilioSignedUrls(request.url, deps.statusCallback), params, signature);
  else if (deps.signingKey) valid = verifyTwilioSignature(deps.signingKey, twilioSignedUrls(request.url, deps.statusCallback), params, signature, settings.algorithm);
  if (valid && bodyHash !== null) {
    valid = createHash('sha256').update(raw).digest('hex') === bodyHash.toLowerCase();
  }
  if (!valid) {
    deps.logger.warn({ webhook: 'twilio', settings: settings === null ? 'auth-token' : settings === 'unsupported' ? 'unsupported' : settings.algorithm, signingKey: Boolean(deps.signingKey) }, 'rejected a Twilio webhook with a missing or invalid signature');
    return problem(401, 'missing or invalid X-Twilio-Signature');
  }
  const get = (k: string) => params.find(([key]) => key === k)?.[1] ?? null;
  const sid = get('MessageSid') ?? get('SmsSid');
  const rawStatus = get('MessageStatus') ?? get('SmsStatus');
  if (sid && rawStatus === 'received') {
    const from = get('From') ?? '';
    const to = get('To') ?? '';
    const channel = from.startsWith('whatsapp:') ? 'whatsapp' : 'sms';
    const strip = (v: string) => v.replace(/^whatsapp:/, '');
    const text = get('Body');
    await deps.inbound({
      channel,
      provider: 'twilio',
      providerMessageId: sid,
      recipient: strip(from),
      senders: [strip(to), get('MessagingServiceSid')].filter((s): s is string => Boolean(s)),
      body: text,
      keyword: inboundKeyword(text, get('OptOutType')),
    });
    return TWIML_EMPTY();
  }
  const status = rawStatus ? fromTwilioStatus(rawStatus) : null;
  if (!sid || !rawStatus || !status) return TWIML_EMPTY();
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
    messageId: uuidOrNull(url.searchParams.get('m')),
    providerMessageId: sid,
    classified: code === null ? null : classifyTwilio({ status: 0, code }),
  });
  return TWIML_EMPTY();
}
