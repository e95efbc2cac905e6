import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpProblem } from './problem.js';

/** How a request was let in. */
export type AuthResult = 'token' | 'callback';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CHALLENGE = 'Bearer realm="pgcourier"';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Builds the check of management requests: a bearer token compared in constant
 * time (SHA-256 digests of equal length through `timingSafeEqual`, every
 * configured token tried), else the host's `authorize` callback.
 *
 * Missing credentials give 401 with a `WWW-Authenticate` challenge; a wrong
 * bearer token 401 `invalid_token`; a callback that says no, 403. A request let in
 * by the callback alone (typically a cookie) that changes state must not come
 * from another site, so cross-site form posts cannot ride on the cookie.
 */
export function createAuthenticator(
  tokens: string[],
  authorize: ((request: Request) => boolean | Promise<boolean>) | undefined,
  onCallbackError: (err: unknown) => void,
): (request: Request) => Promise<AuthResult> {
  const expected = tokens.map(digest);
  return async (request) => {
    const header = request.headers.get('authorization');
    const match = header ? /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header) : null;
    if (match && expected.length > 0) {
      const given = digest(match[1] as string);
      let ok = false;
      for (const e of expected) ok = timingSafeEqual(given, e) || ok;
      if (ok) return 'token';
    }
    if (authorize) {
      let allowed = false;
      try {
        allowed = (await authorize(request)) === true;
      } catch (err) {
        onCallbackError(err);
        allowed = false;
      }
      if (allowed) {
        const site = request.headers.get('sec-fetch-site');
        if (UNSAFE.has(request.method) && site !== null && site !== 'same-origin' && site !== 'none') {
          throw new HttpProblem('forbidden', 'cross-site requests that change state must carry a bearer token');
        }
        return 'callback';
      }
      if (!header) throw new HttpProblem('forbidden', 'the request is not authorized');
    }
    if (!header) {
      throw new HttpProblem('unauthorized', 'send "Authorization: Bearer <token>"', { headers: { 'WWW-Authenticate': CHALLENGE } });
    }
    throw new HttpProblem(
      'unauthorized',
      match ? 'the bearer token is not valid' : 'the Authorization header must be "Bearer <token>"',
      { headers: { 'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"` } },
    );
  };
}
