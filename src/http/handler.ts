import type { z } from 'zod';
import { ConflictError, NotFoundError, NotMigratedError, StateError, UnknownTaskError, ValidationError } from '../errors.js';
import { createAuthenticator } from './auth.js';
import { readBody, readJson } from './body.js';
import type { HttpCourier } from './courier-api.js';
import { dashboardRoute } from './dashboard/route.js';
import { type NodeListener, nodeListener } from './node.js';
import { buildOpenApi } from './openapi.js';
import { type HttpOptions, resolveHttpOptions } from './options.js';
import { HttpProblem, problemResponse } from './problem.js';
import type { Reply, Route, RouteContext } from './route.js';
import { messageBrowseRoutes, messageReads } from './routes/message-browse.js';
import { originRoutes } from './routes/origin.js';
import { queueRoutes } from './routes/queues.js';
import { redriveRoutes } from './routes/redrive.js';
import { scheduleRoutes } from './routes/schedules.js';
import { systemRoutes } from './routes/system.js';
import { taskRoutes } from './routes/tasks.js';
import { workflowRoutes } from './routes/workflows.js';
import { parseInput } from './validate.js';

/** The dashboard's message views, when the messages plugin is installed. */
function messageBrowse(courier: HttpCourier): Route[] {
  const reads = messageReads(courier);
  return reads ? messageBrowseRoutes(reads) : [];
}

/** A web-standard request handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/**
 * What {@link createHttpHandler} returns: a web-standard handler you can call
 * directly, plus adapters for Node servers and route-handler frameworks.
 *
 * @example
 * ```ts
 * const api = createHttpHandler(courier, { basePath: '/courier', auth: { token: process.env.COURIER_TOKEN! } });
 * http.createServer(api.node).listen(3000);          // node:http
 * app.use(api.node);                                  // Express (before body parsers)
 * export default { fetch: api.fetch };                // Bun, Deno, Cloudflare-style
 * app.all('/courier/*', (c) => api(c.req.raw));       // Hono
 * export const { GET, POST, DELETE, OPTIONS } = api.routeHandlers; // Next.js route handler
 * ```
 */
export interface CourierHttpHandler {
  /** Handles one request; paths outside `basePath` get 404. */
  (request: Request): Promise<Response>;
  /** The same handler, for `{ fetch }`-style servers. */
  fetch: FetchHandler;
  /**
   * Node `(req, res, next?)` listener for `http.createServer`, Express and
   * Fastify (raw request and reply). With `next` (Express), requests outside
   * `basePath` are passed on instead of answered 404.
   */
  node: NodeListener;
  /** Named exports for a Next.js (or similar) catch-all route handler. */
  routeHandlers: Record<'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS', FetchHandler>;
  /** The normalised base path (`''` for the root). */
  basePath: string;
  /** The OpenAPI 3.1 document served at `{basePath}/openapi.json`. */
  openapi(): Record<string, unknown>;
}

interface Compiled {
  route: Route;
  segments: string[];
  /** One character per segment, `1` literal, `0` parameter: higher sorts more specific. */
  rank: string;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const BASE_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function compile(route: Route): Compiled {
  const segments = route.path.split('/').filter((s) => s !== '');
  return { route, segments, rank: segments.map((s) => (s.startsWith('{') ? '0' : '1')).join('') };
}

function matchSegments(pattern: string[], path: string[]): Record<string, string> | null {
  if (pattern.length !== path.length) return null;
  const params: Record<string, string> = {};
  for (const [i, p] of pattern.entries()) {
    const s = path[i] as string;
    if (p.startsWith('{')) {
      let value: string;
      try {
        value = decodeURIComponent(s);
      } catch {
        throw new HttpProblem('validation', `"${p.slice(1, -1)}" is not a valid URL-encoded segment`, { field: p.slice(1, -1) });
      }
      params[p.slice(1, -1)] = value;
    } else if (p !== s) return null;
  }
  return params;
}

function queryObject(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (Object.hasOwn(out, k)) throw new HttpProblem('validation', `"${k}" must be given at most once`, { field: k });
    out[k] = v;
  }
  return out;
}

function toProblem(err: ValidationError, route: Route | undefined): HttpProblem {
  const field = route?.mapField ? route.mapField(err.field) : err.field;
  const expected =
    err instanceof UnknownTaskError ? 'must be a registered task name' : err.expected === 'is not a known option' ? 'is not a known field' : err.expected;
  return new HttpProblem('validation', `"${field}" ${expected}`, { field });
}

function render(reply: Reply, head: boolean): Response {
  const headers: Record<string, string> = { ...BASE_HEADERS, ...reply.headers };
  let body: string | null = null;
  if (reply.body !== undefined && reply.status !== 204) {
    if (reply.contentType) {
      body = String(reply.body);
      headers['content-type'] = reply.contentType;
    } else {
      body = JSON.stringify(reply.body);
      headers['content-type'] = 'application/json';
    }
  }
  return new Response(head ? null : body, { status: reply.status, headers });
}

/** The problem an error of the engine answers with: its class decides the status. */
function engineProblem(err: unknown, route: Route | undefined): HttpProblem | null {
  if (err instanceof HttpProblem) return err;
  if (err instanceof ValidationError) return toProblem(err, route);
  if (err instanceof NotFoundError) return new HttpProblem('not-found', err.message);
  if (err instanceof ConflictError || err instanceof StateError) return new HttpProblem('conflict', err.message);
  if (err instanceof NotMigratedError) return new HttpProblem('unavailable', err.message);
  return null;
}

/**
 * The HTTP API, the dashboard and the plugins' endpoints (messaging and its
 * provider webhooks, with `pgcourier/messages`) of a courier, as one web-standard
 * `(Request) => Promise<Response>` handler, with a Node listener (`.node`) for
 * node:http, Express and Fastify, and `.routeHandlers` for Next.js. Management
 * endpoints need `auth`; webhooks are checked by their provider's signature. The
 * OpenAPI document is at `{basePath}/openapi.json`, the dashboard at
 * `{basePath}/`. Options are validated at once (a {@link ValidationError} names
 * the field). Errors of the engine map to statuses by class: `ValidationError`
 * 400, `NotFoundError` 404, `ConflictError` and `StateError` 409,
 * `NotMigratedError` 503.
 *
 * @example
 * ```ts
 * import { createHttpHandler } from 'pgcourier/http';
 *
 * const api = createHttpHandler(courier, { basePath: '/courier', auth: { token: process.env.COURIER_TOKEN! } });
 * http.createServer(api.node).listen(3000);
 * ```
 */
export function createHttpHandler(courier: HttpCourier, options: HttpOptions): CourierHttpHandler {
  const opts = resolveHttpOptions(options);
  const extensions = courier.extensions('http');
  const routes: Route[] = [
    ...(opts.dashboard ? [dashboardRoute] : []),
    ...taskRoutes,
    ...queueRoutes,
    ...redriveRoutes,
    ...scheduleRoutes,
    ...workflowRoutes,
    ...extensions.flatMap((e) => e.routes),
    ...messageBrowse(courier),
    ...systemRoutes,
    ...originRoutes,
  ];
  const table = routes.map(compile);
  const authenticate = createAuthenticator(opts.tokens, opts.authorize, (err) =>
    courier.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'pgcourier http: authorize callback threw'),
  );
  let document: Record<string, unknown> | undefined;
  const openapi = () => (document ??= buildOpenApi(routes, opts.basePath, opts.dashboard !== null));

  /**
   * Answers a request, or returns `null` when its path is outside `basePath`.
   * `method` differs from `request.method` only for methods a web `Request`
   * cannot carry (TRACE, CONNECT), which the Node adapter passes on this way.
   */
  async function dispatch(request: Request, method: string = request.method): Promise<Response | null> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return problemResponse(new HttpProblem('validation', 'the request URL is not valid', { field: 'url' }));
    }
    const base = opts.basePath;
    if (base && url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return null;
    const rest = url.pathname.slice(base.length).replace(/\/+$/, '') || '/';
    const segments = rest === '/' ? [] : rest.slice(1).split('/');
    let route: Route | undefined;
    try {
      let best: { c: Compiled; params: Record<string, string> }[] = [];
      for (const c of table) {
        const params = matchSegments(c.segments, segments);
        if (!params) continue;
        if (best.length === 0 || c.rank > (best[0] as { c: Compiled }).c.rank) best = [{ c, params }];
        else if (c.rank === (best[0] as { c: Compiled }).c.rank) best.push({ c, params });
      }
      if (best.length === 0) throw new HttpProblem('not-found', `no endpoint at ${url.pathname}`);
      const head = method === 'HEAD';
      const hit = best.find(({ c }) => c.route.method === method || (head && c.route.method === 'GET'));
      if (!hit) {
        const methods = new Set<string>(best.map(({ c }) => c.route.method));
        if (methods.has('GET')) methods.add('HEAD');
        methods.add('OPTIONS');
        const allow = [...methods].join(', ');
        if (method === 'OPTIONS') return new Response(null, { status: 204, headers: { ...BASE_HEADERS, allow } });
        throw new HttpProblem('method-not-allowed', `${method.slice(0, 20)} is not allowed here; use ${allow}`, { headers: { Allow: allow } });
      }
      route = hit.c.route;
      if (route.access === 'bearer') await authenticate(request);
      const params = route.params ? parseInput(route.params as z.ZodType, hit.params) : hit.params;
      let query: unknown;
      if (route.query) query = parseInput(route.query as z.ZodType, queryObject(url));
      else if (route.access === 'bearer' && url.search.length > 1) {
        const first = [...url.searchParams.keys()][0] ?? 'query';
        throw new HttpProblem('validation', `"${first}" is not a known field`, { field: first });
      }
      let body: unknown;
      if (route.body) {
        const raw = await readJson(request, opts.bodyLimit);
        if (raw === undefined) {
          if (route.bodyRequired ?? true) throw new HttpProblem('validation', '"body" is required (JSON)', { field: 'body' });
        } else body = parseInput(route.body as z.ZodType, raw);
      } else if (route.access === 'bearer' && UNSAFE.has(request.method) && !route.rawBody) {
        const raw = await readBody(request, opts.bodyLimit);
        const text = new TextDecoder().decode(raw).trim();
        if (text !== '' && text !== '{}') throw new HttpProblem('validation', '"body" must be empty', { field: 'body' });
      }
      const ctx: RouteContext<unknown, unknown, unknown> = { request, url, params, query, body, courier, options: opts, openapi };
      const reply = await route.handle(ctx);
      if (reply instanceof Response) {
        return head ? new Response(null, { status: reply.status, headers: reply.headers }) : reply;
      }
      return render(reply, head);
    } catch (err) {
      const problem = engineProblem(err, route);
      if (problem) return problemResponse(problem);
      if (request.signal.aborted) {
        courier.logger.debug({ method: request.method, route: route?.path }, 'pgcourier http: client went away');
        return problemResponse(new HttpProblem('validation', 'the client closed the request', { field: 'body' }));
      }
      courier.logger.error({ err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err), method: request.method, route: route?.path }, 'pgcourier http: request failed');
      return problemResponse(new HttpProblem('internal', 'the request failed; the error was logged on the server'));
    }
  }

  const fetch: FetchHandler = async (request) =>
    (await dispatch(request)) ?? problemResponse(new HttpProblem('not-found', `no endpoint at ${new URL(request.url).pathname}`));
  const handler = ((request: Request) => fetch(request)) as CourierHttpHandler;
  handler.fetch = fetch;
  handler.node = nodeListener(dispatch, { trustProxy: opts.trustProxy });
  handler.routeHandlers = { GET: fetch, HEAD: fetch, POST: fetch, PUT: fetch, PATCH: fetch, DELETE: fetch, OPTIONS: fetch };
  handler.basePath = opts.basePath;
  handler.openapi = openapi;
  return handler;
}
