// Shared plumbing of the HTTP peers: a node:http server on 127.0.0.1:0 that
// records every request byte-exact, scripted replies, and a small adapter that
// serves web-standard handlers (our webhooks) over real HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a peer received. */
export interface PeerRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: Buffer;
}

/** What a scripted rule does instead of the normal reply. */
export type PeerAction =
  | { status: number; headers?: Record<string, string>; body: unknown }
  /** Read the whole request, then cut the connection without a reply. */
  | { drop: true };

/** A scripted reply for the next `times` requests that `match`. */
export interface PeerRule<M> {
  match?: (m: M) => boolean;
  times?: number;
  action: PeerAction;
}

/** Rules consumed in order, each `times` times (default once). */
export class Script<M> {
  readonly #rules: Array<PeerRule<M> & { left: number }> = [];

  add(rule: PeerRule<M>): void {
    this.#rules.push({ ...rule, left: rule.times ?? 1 });
  }

  take(m: M): PeerAction | undefined {
    const i = this.#rules.findIndex((r) => !r.match || r.match(m));
    if (i < 0) return undefined;
    const rule = this.#rules[i] as PeerRule<M> & { left: number };
    if (--rule.left <= 0) this.#rules.splice(i, 1);
    return rule.action;
  }

  clear(): void {
    this.#rules.length = 0;
  }
}

/** Writes a scripted action; returns false for `drop` (the socket is destroyed). */
export function perform(res: ServerResponse, action: PeerAction): void {
  if ('drop' in action) {
    res.socket?.destroy();
    return;
  }
  const body = typeof action.body === 'string' ? action.body : JSON.stringify(action.body);
  res.writeHead(action.status, { 'content-type': typeof action.body === 'string' ? 'text/plain' : 'application/json', ...action.headers });
  res.end(body);
}

/** Sends a JSON reply. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Starts a recording HTTP server. */
export async function startRecordingServer(onRequest: (req: PeerRequest, res: ServerResponse) => void | Promise<void>): Promise<{ url: string; port: number; requests: PeerRequest[]; server: Server; close(): Promise<void> }> {
  const requests: PeerRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const record: PeerRequest = { at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, raw: Buffer.concat(chunks) };
      requests.push(record);
      Promise.resolve(onRequest(record, res)).catch((err) => {
        if (!res.headersSent) json(res, 500, { error: String(err) });
      });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One request our web handler answered. */
export interface ServedHit {
  method: string;
  path: string;
  status: number;
  body: string;
}

/** Serves web-standard handlers by path prefix (e.g. `/twilio` → messages.webhooks.twilio) over real HTTP. */
export async function serveWeb(routes: Record<string, (request: Request) => Promise<Response>>): Promise<{ url: string; hits: ServedHit[]; close(): Promise<void> }> {
  const hits: ServedHit[] = [];
  let base = '';
  const peer = await startRecordingServer(async (req, res) => {
    const prefix = Object.keys(routes).find((p) => req.path === p || req.path.startsWith(`${p}?`) || req.path.startsWith(`${p}/`));
    if (!prefix) {
      res.writeHead(404).end();
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`${base}${req.path}`, { method: req.method, headers, body: hasBody ? req.raw : undefined });
    const response = await (routes[prefix] as (r: Request) => Promise<Response>)(request);
    const body = await response.text();
    hits.push({ method: req.method, path: req.path, status: response.status, body });
    res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
    res.end(body);
  });
  base = peer.url;
  return { url: peer.url, hits, close: peer.close };
}
