import type { z } from 'zod';
import type { HttpCourier } from './courier-api.js';
import type { ResolvedHttpOptions } from './options.js';

/** HTTP methods routes are declared with (HEAD is served by every GET route). */
export type Method = 'GET' | 'POST' | 'DELETE' | 'OPTIONS';

/**
 * Who may call a route: `bearer` needs the management credentials, `public`
 * nothing (dashboard shell, OpenAPI document, health), `webhook` is a provider's
 * callback, checked by the provider's signature in the route itself.
 */
export type Access = 'bearer' | 'public' | 'webhook';

/** One documented response of a route. */
export interface ResponseSpec {
  description: string;
  /** Body schema (JSON unless `contentType` says otherwise). */
  schema?: z.ZodType;
  /** Media type of the body (default `application/json`). */
  contentType?: string;
  /** Example body, shown in the OpenAPI document. */
  example?: unknown;
}

/** A reply of a route handler, serialised by the dispatcher. */
export interface Reply {
  status: number;
  /** JSON-serialised unless `contentType` is given, then sent as a string. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** What a route handler receives. */
export interface RouteContext<P, Q, B> {
  request: Request;
  url: URL;
  params: P;
  query: Q;
  body: B;
  courier: HttpCourier;
  options: ResolvedHttpOptions;
  /** The OpenAPI document of this handler. */
  openapi(): Record<string, unknown>;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** A route as declared; the dispatcher, the OpenAPI generator and the tests read it. */
export interface Route<P extends z.ZodType | undefined = any, Q extends z.ZodType | undefined = any, B extends z.ZodType | undefined = any> {
  operationId: string;
  method: Method;
  /** Path below the base path, with `{param}` segments, e.g. `/tasks/{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Whether a body must be sent (default: when `body` is given). */
  bodyRequired?: boolean;
  /** Media types of a non-JSON body the handler reads itself (a `bearer` route without `body` otherwise refuses one). */
  rawBody?: readonly string[];
  /** Documented responses by status; the lowest 2xx is what the example gets. */
  responses: Record<number, ResponseSpec>;
  /** A request that succeeds on the documented test fixture. */
  example?: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown };
  /** Renames an engine field in error responses to the name the client sent. */
  mapField?: (field: string) => string;
  handle(ctx: RouteContext<Out<P>, Out<Q>, Out<B>>): Promise<Reply | Response>;
}

/**
 * Declares a route with its handler typed from its schemas.
 *
 * @example
 * ```ts
 * const ping = defineRoute({
 *   operationId: 'getPing',
 *   method: 'GET',
 *   path: '/ping',
 *   tag: 'system',
 *   summary: 'Ping',
 *   access: 'public',
 *   responses: { 200: { description: 'Pong.' } },
 *   async handle() {
 *     return { status: 200, body: { pong: true } };
 *   },
 * });
 * ```
 */
export function defineRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  route: Route<P, Q, B>,
): Route {
  return route as unknown as Route;
}

/** What a plugin's dashboard overview adds: its sections, `null` where it has none. */
export interface OverviewSections {
  /** Bulk-send batches with progress (messaging). */
  batches?: readonly object[];
  /** Message counts (messaging). */
  messages?: object;
}

/**
 * What a plugin contributes to `pgcourier/http`: its routes (webhooks included)
 * and its sections of the dashboard overview.
 */
export interface HttpExtension {
  /** Routes served below the base path beside the core's. */
  readonly routes: readonly Route[];
  /** Sections of `GET /overview` the plugin fills. */
  overview?(): Promise<OverviewSections>;
}

declare module '../plugins.js' {
  interface PluginExtensions {
    /** Routes and dashboard sections served by `pgcourier/http`. */
    http?: HttpExtension;
  }
}
