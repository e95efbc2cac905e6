/** A provider's HTTP reply, read in full. */
export interface HttpReply {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or `undefined` when the body is not JSON. */
  json: unknown;
}

/**
 * Result of one provider request. `not_sent`: the request provably never reached
 * the provider (refused, DNS, TLS). `maybe_sent`: it may have arrived (connection
 * dropped or timed out after the request was written) — the ambiguous case.
 */
export type HttpResult = { kind: 'reply'; reply: HttpReply } | { kind: 'not_sent'; error: string } | { kind: 'maybe_sent'; error: string };

/** Error codes raised before a single byte of the request left this process. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_INVALID_URL',
]);

function causeCode(err: unknown): string | undefined {
  let e = err as { code?: string; cause?: unknown } | undefined;
  for (let i = 0; i < 4 && e; i++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * Sends one request with `fetch` and a deadline. Never throws for network
 * failures: it tells apart "never sent" from "maybe sent". Aborting `signal`
 * (task cancelled, worker stopping) after the request started is "maybe sent" too.
 */
export async function request(url: string, init: RequestInit, options: { timeout: number; signal?: AbortSignal; fetch?: typeof fetch }): Promise<HttpResult> {
  const signals = [AbortSignal.timeout(options.timeout * 1000)];
  if (options.signal) {
    if (options.signal.aborted) return { kind: 'not_sent', error: 'aborted before sending' };
    signals.push(options.signal);
  }
  const doFetch = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, { ...init, signal: AbortSignal.any(signals), redirect: 'manual' });
  } catch (err) {
    const code = causeCode(err);
    const name = (err as Error).name;
    const detail = `${code ?? name}: ${((err as { cause?: Error }).cause?.message ?? (err as Error).message ?? '').slice(0, 200)}`;
    if (code && NOT_SENT_CODES.has(code)) return { kind: 'not_sent', error: detail };
    if (err instanceof TypeError && code === undefined && /invalid|url/i.test((err as Error).message)) return { kind: 'not_sent', error: detail };
    return { kind: 'maybe_sent', error: name === 'TimeoutError' ? `timed out after ${options.timeout}s` : detail };
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    // Headers arrived, the body did not: the status line is the answer.
    text = '';
    if (res.ok) return { kind: 'maybe_sent', error: `reply body lost: ${(err as Error).message}` };
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { kind: 'reply', reply: { status: res.status, headers: res.headers, text, json } };
}
