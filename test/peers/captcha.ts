// A local peer shaped like the CAPTCHA services' server-side verification
// (Cloudflare Turnstile, hCaptcha and reCAPTCHA share it): POST /siteverify with
// form-encoded secret, response and remoteip; JSON { success, hostname, score?,
// "error-codes" }. Tokens are single-use, as the services make them.
import { json, type PeerRequest, startRecordingServer } from './http.js';

/** The running peer. */
export interface CaptchaPeer {
  /** The verify URL (`…/siteverify`). */
  verifyUrl: string;
  secret: string;
  requests: PeerRequest[];
  /** Issues a solved token (as the widget would in a browser), for `hostname` with an optional reCAPTCHA v3 score. */
  solve(options?: { hostname?: string; score?: number }): string;
  /** While true, every verification answers 500. */
  down: boolean;
  close(): Promise<void>;
}

/** Starts a siteverify-shaped peer. */
export async function startCaptchaPeer(options: { secret?: string } = {}): Promise<CaptchaPeer> {
  const secret = options.secret ?? '0x4AAAAAAA-captcha-secret-key';
  const tokens = new Map<string, { hostname: string; score?: number }>();
  let n = 0;
  const server = await startRecordingServer((req, res) => {
    if (req.method !== 'POST' || req.path !== '/siteverify') return json(res, 404, { success: false, 'error-codes': ['not-found'] });
    if (peer.down) return json(res, 500, { success: false, 'error-codes': ['internal-error'] });
    const form = new URLSearchParams(req.raw.toString('utf8'));
    if (form.get('secret') !== secret) return json(res, 200, { success: false, 'error-codes': ['invalid-input-secret'] });
    const token = form.get('response') ?? '';
    const solved = tokens.get(token);
    if (!solved) return json(res, 200, { success: false, 'error-codes': [token ? 'invalid-input-response' : 'missing-input-response'] });
    tokens.delete(token);
    json(res, 200, { success: true, challenge_ts: new Date().toISOString(), hostname: solved.hostname, 'error-codes': [], ...(solved.score !== undefined ? { score: solved.score } : {}) });
  });
  const peer: CaptchaPeer = {
    verifyUrl: `${server.url}/siteverify`,
    secret,
    requests: server.requests,
    solve(o = {}) {
      const token = `XXXX.DUMMY.TOKEN.${++n}.${Math.random().toString(36).slice(2)}`;
      tokens.set(token, { hostname: o.hostname ?? 'site.example', ...(o.score !== undefined ? { score: o.score } : {}) });
      return token;
    },
    down: false,
    close: server.close,
  };
  return peer;
}
