import { createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of two strings (false when lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Twilio's `X-Twilio-Signature`: base64 of HMAC-SHA1 keyed with the auth token over
 * the full URL Twilio requested, followed by every POST parameter as name + value,
 * names sorted, repeated names with their values sorted.
 *
 * @example
 * ```ts
 * twilioSignature('test-auth-token', 'https://hooks.example.test/twilio/status?m=msg_42', params);
 * ```
 */
export function twilioSignature(authToken: string, url: string, params: Iterable<[string, string]>, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  const byKey = new Map<string, string[]>();
  for (const [k, v] of params) {
    const list = byKey.get(k) ?? [];
    if (!list.includes(v)) list.push(v);
    byKey.set(k, list);
  }
  let data = url;
  for (const key of [...byKey.keys()].sort()) {
    for (const value of (byKey.get(key) as string[]).sort()) data += key + value;
  }
  return createHmac(algorithm, authToken).update(data, 'utf8').digest('base64');
}

/**
 * Reads `X-Twilio-Webhooks-Signature-Settings` (`key=…,algorithm=HMAC_SHA256`), sent
 * when a Twilio Webhooks Rule matched and the request is signed with the Setting's
 * SharedKey instead of the auth token. Returns `null` without the header, and
 * `'unsupported'` for an algorithm other than HMAC_SHA1 / HMAC_SHA256.
 */
export function twilioSignatureSettings(header: string | null): { key: string | null; algorithm: 'sha1' | 'sha256' } | 'unsupported' | null {
  if (header === null) return null;
  const fields = new Map(
    header.split(',').map((part) => {
      const i = part.indexOf('=');
      return [part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim()] as const;
    }),
  );
  const algorithm = (fields.get('algorithm') ?? 'HMAC_SHA1').toUpperCase();
  if (algorithm !== 'HMAC_SHA1' && algorithm !== 'HMAC_SHA256') return 'unsupported';
  return { key: fields.get('key') || null, algorithm: algorithm === 'HMAC_SHA256' ? 'sha256' : 'sha1' };
}

/**
 * The URL spellings Twilio's own validator accepts for one request: as given, and
 * with the default port added or removed (proxies and frameworks change it).
 */
export function twilioUrlVariants(url: string): string[] {
  const out = new Set<string>([url]);
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url);
  if (m) {
    const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
    const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
    const withPort = /:(\d+)$/.exec(authority);
    if (!withPort) out.add(`${scheme}://${authority}:${defaultPort}${rest}`);
    else if (withPort[1] === defaultPort) out.add(`${scheme}://${authority.slice(0, -withPort[0].length)}${rest}`);
  }
  return [...out];
}

/** Checks an `X-Twilio-Signature` header against each candidate URL (HMAC-SHA1 unless `algorithm` says otherwise). */
export function verifyTwilioSignature(authToken: string, urls: string[], params: Array<[string, string]>, header: string | null, algorithm: 'sha1' | 'sha256' = 'sha1'): boolean {
  if (!header) return false;
  for (const url of urls) {
    for (const variant of twilioUrlVariants(url)) {
      if (safeEqual(twilioSignature(authToken, variant, params, algorithm), header)) return true;
    }
  }
  return false;
}

/** Meta's `X-Hub-Signature-256` value: `sha256=` + hex HMAC-SHA256 of the raw body keyed with the app secret. */
export function metaSignature(appSecret: string, rawBody: Uint8Array | string): string {
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** Checks an `X-Hub-Signature-256` header over the raw request bytes. */
export function verifyMetaSignature(appSecret: string, rawBody: Uint8Array | string, header: string | null): boolean {
  if (!header) return false;
  return safeEqual(metaSignature(appSecret, rawBody), header.trim().toLowerCase().startsWith('sha256=') ? `sha256=${header.trim().slice(7).toLowerCase()}` : header);
}

/** Decodes a Standard Webhooks secret (`whsec_<base64>`, or raw base64) to key bytes. */
export function standardWebhookKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/**
 * A Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 over
 * `id + "." + timestamp + "." + body`.
 */
export function standardWebhookSignature(secret: string, id: string, timestamp: number | string, body: string | Uint8Array): string {
  const hmac = createHmac('sha256', standardWebhookKey(secret));
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(body);
  return `v1,${hmac.digest('base64')}`;
}

/** Result of {@link verifyStandardWebhook}. */
export type StandardWebhookCheck = 'ok' | 'invalid' | 'expired';

/**
 * Verifies `webhook-id`, `webhook-timestamp` and `webhook-signature` (several
 * space-separated signatures allowed, for key rotation) with a tolerance of
 * `tolerance` seconds around `now` (epoch seconds).
 */
export function verifyStandardWebhook(
  secret: string,
  headers: { id: string | null; timestamp: string | null; signature: string | null },
  body: string | Uint8Array,
  options: { now?: number; tolerance?: number } = {},
): StandardWebhookCheck {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return 'invalid';
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const tolerance = options.tolerance ?? 300;
  if (Math.abs(now - Number(timestamp)) > tolerance) return 'expired';
  const expected = standardWebhookSignature(secret, id, timestamp, body);
  for (const candidate of signature.split(' ')) {
    if (candidate.startsWith('v1,') && safeEqual(candidate, expected)) return 'ok';
  }
  return 'invalid';
}
