/** Reads a request body up to `limit` bytes; `null` when it is larger. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array | null> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const PROBLEM_TITLES: Record<number, [string, string]> = {
  400: ['validation', 'Invalid request'],
  401: ['unauthorized', 'Authentication required'],
  403: ['forbidden', 'Forbidden'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  413: ['payload-too-large', 'Request body too large'],
  429: ['rate-limited', 'Too many requests'],
  503: ['unavailable', 'Service unavailable'],
};

/**
 * An RFC 9457 `application/problem+json` error reply, shaped like every other
 * error of `pgcourier/http` (`type: urn:pgcourier:problem:<kind>`). Never carries
 * a value from the request.
 */
export function problem(status: keyof typeof PROBLEM_TITLES & number, detail: string, headers: Record<string, string> = {}): Response {
  const [kind, title] = PROBLEM_TITLES[status] ?? ['internal', 'Error'];
  return new Response(JSON.stringify({ type: `urn:pgcourier:problem:${kind}`, title, status, detail }), {
    status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers },
  });
}

/** Default body cap of the provider webhooks: the same as `pgcourier/http`'s `webhookBodyLimit`. */
export const WEBHOOK_BODY_LIMIT = 256 * 1024;

/** A plain-text response. */
export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `value` when it is a UUID, else `null`. */
export function uuidOrNull(value: unknown): string | null {
  return typeof value === 'string' && UUID.test(value) ? value.toLowerCase() : null;
}
