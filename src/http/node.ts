import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { HttpProblem, problemResponse } from './problem.js';

/**
 * A Node request listener: `(req, res)` for `http.createServer`, `(req, res, next)`
 * as Express middleware. Fastify: call it with `request.raw` and `reply.raw`
 * after `reply.hijack()`.
 */
export type NodeListener = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

/** Options of {@link toNodeListener}. */
export interface NodeListenerOptions {
  /** Take scheme and host from `X-Forwarded-Proto`/`X-Forwarded-Host` (default false). */
  trustProxy?: boolean;
}

/** Methods the fetch standard forbids in a `Request` (it throws on them). */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** Client address of requests that came through the Node adapter (for per-IP limits). */
export const clientAddresses = new WeakMap<Request, string>();

/** A request as frameworks leave it: Express keeps the mount path in `originalUrl`; body parsers set `body`. */
type FrameworkRequest = IncomingMessage & { originalUrl?: string; body?: unknown };

function first(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v?.split(',')[0]?.trim() || undefined;
}

/** The request's absolute URL as the client addressed it. */
function requestUrl(req: FrameworkRequest, trustProxy: boolean): URL {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const proto = (trustProxy && first(req.headers['x-forwarded-proto'])) || (encrypted ? 'https' : 'http');
  const host = (trustProxy && first(req.headers['x-forwarded-host'])) || req.headers.host || `${req.socket.localAddress ?? 'localhost'}:${req.socket.localPort ?? ''}`;
  const path = req.originalUrl ?? req.url ?? '/';
  return /^https?:\/\//i.test(path) ? new URL(path) : new URL(path.startsWith('/') ? path : `/${path}`, `${proto}://${host}`);
}

/**
 * The request body as a web stream, read only when the handler reads it; `release`
 * detaches it and lets Node discard what is left (after a 413, say) so the
 * connection stays usable.
 */
function lazyBody(req: IncomingMessage): { stream: ReadableStream<Uint8Array>; release(): void } {
  let attached = false;
  let onData: ((chunk: Buffer) => void) | undefined;
  let onEnd: (() => void) | undefined;
  let onError: ((err: Error) => void) | undefined;
  const release = () => {
    if (onData) req.off('data', onData);
    if (onEnd) req.off('end', onEnd);
    if (onError) req.off('error', onError);
    onData = onEnd = onError = undefined;
    if (!req.readableEnded) req.resume();
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (req.readableEnded && !attached) {
          controller.close(); // already consumed by someone else: nothing left to read
          return;
        }
        if (!attached) {
          attached = true;
          onData = (chunk) => {
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            if ((controller.desiredSize ?? 0) <= 0) req.pause();
          };
          onEnd = () => controller.close();
          onError = (err) => controller.error(err);
          req.on('data', onData);
          req.once('end', onEnd);
          req.once('error', onError);
        }
        req.resume();
      },
      cancel() {
        release();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, release };
}

/** Re-encodes a body a framework already parsed (Express `express.json()`, say). */
function parsedBody(body: unknown, contentType: string | undefined): Uint8Array | string {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (contentType?.includes('application/x-www-form-urlencoded') && body && typeof body === 'object') {
    return new URLSearchParams(Object.entries(body as Record<string, unknown>).map(([k, v]): [string, string] => [k, String(v)])).toString();
  }
  return JSON.stringify(body);
}

/** Converts a Node request into a web `Request`. */
export function toWebRequest(req: IncomingMessage, signal: AbortSignal, trustProxy = false): { request: Request; release(): void } {
  const r = req as FrameworkRequest;
  const url = requestUrl(r, trustProxy);
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    if (!name.startsWith(':')) headers.append(name, req.rawHeaders[i + 1] as string);
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const address = (trustProxy && first(req.headers['x-forwarded-for'])) || req.socket.remoteAddress;
  const remember = (request: Request) => {
    if (address) clientAddresses.set(request, address);
    return request;
  };
  if (method === 'GET' || method === 'HEAD') return { request: remember(new Request(url, { method, headers, signal })), release: () => {} };
  if (r.body !== undefined && (req.readableEnded || req.complete)) {
    const body = parsedBody(r.body, req.headers['content-type']);
    headers.delete('content-length');
    headers.delete('transfer-encoding');
    return { request: remember(new Request(url, { method, headers, body, signal })), release: () => {} };
  }
  const { stream, release } = lazyBody(req);
  const init: RequestInit & { duplex: 'half' } = { method, headers, body: stream, signal, duplex: 'half' };
  return { request: remember(new Request(url, init)), release };
}

/** Writes a web `Response` to a Node response, streaming its body. */
export async function writeResponse(response: Response, res: ServerResponse, head: boolean): Promise<void> {
  res.statusCode = response.status;
  const cookies = response.headers.getSetCookie();
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (!response.body || head) {
    res.end();
    return;
  }
  await pipeline(Readable.fromWeb(response.body as unknown as NodeReadableStream), res);
}

/**
 * Adapts a dispatcher (a `Response`, or `null` for "not mine") to a Node
 * listener. `null` goes to `next` when there is one, else 404.
 */
export function nodeListener(dispatch: (request: Request, method?: string) => Promise<Response | null>, options: NodeListenerOptions = {}): NodeListener {
  return (req, res, next) => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    let release = () => {};
    const run = async () => {
      let response: Response | null;
      try {
        const method = (req.method ?? 'GET').toUpperCase();
        if (FORBIDDEN_METHODS.has(method)) {
          // A web Request cannot carry these methods: route a bodiless stand-in so the answer is 405 with Allow.
          req.resume();
          response = await dispatch(new Request(requestUrl(req, options.trustProxy === true), { method: 'GET', signal: controller.signal }), method);
        } else {
          const converted = toWebRequest(req, controller.signal, options.trustProxy === true);
          release = converted.release;
          response = await dispatch(converted.request);
        }
      } catch (err) {
        response = problemResponse(err instanceof HttpProblem ? err : new HttpProblem('validation', 'the request could not be read', { field: 'url' }));
      }
      if (response === null) {
        release();
        if (next) return next();
        response = problemResponse(new HttpProblem('not-found', 'no endpoint here'));
      }
      await writeResponse(response, res, req.method === 'HEAD');
      release();
    };
    run().catch((err) => {
      release();
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', 'application/problem+json');
        res.end(JSON.stringify(new HttpProblem('internal', 'the response could not be written').toJSON()));
      } else res.destroy(err instanceof Error ? err : undefined);
    });
  };
}

/**
 * Adapts any web-standard handler to a Node listener (`http.createServer`,
 * Express, Fastify's raw request/reply).
 *
 * @example
 * ```ts
 * http.createServer(toNodeListener((req) => api(req))).listen(3000, '127.0.0.1');
 * ```
 */
export function toNodeListener(handler: (request: Request) => Promise<Response>, options: NodeListenerOptions = {}): NodeListener {
  return nodeListener(handler, options);
}
