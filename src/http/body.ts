import { HttpProblem } from './problem.js';

/**
 * Reads a request body, refusing (413) once it passes `limit` bytes: first by its
 * declared `Content-Length`, then by counting while reading, so a body without a
 * length (chunked) cannot grow past the limit either.
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > limit) {
    throw new HttpProblem('payload-too-large', `"body" must be at most ${limit} bytes`);
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpProblem('payload-too-large', `"body" must be at most ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** True for `application/json` and `application/*+json`, whatever the parameters. */
export function isJsonType(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * Reads and parses a JSON body. An empty body is `undefined`; a body that is not
 * declared as JSON is 415; malformed JSON is 400 without echoing the text.
 */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  const raw = await readBody(request, limit);
  if (raw.byteLength === 0) return undefined;
  if (!isJsonType(request.headers.get('content-type'))) {
    throw new HttpProblem('unsupported-media-type', '"body" must be JSON sent as "Content-Type: application/json"', { field: 'body' });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new HttpProblem('invalid-json', '"body" is not valid UTF-8', { field: 'body' });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpProblem('invalid-json', '"body" is not valid JSON', { field: 'body' });
  }
}
