import type { z } from 'zod';
import type { Courier } from '../courier.js';
import type { ResolvedHttpOptions } from './options.js';

/** HTTP methods routes are declared with (HEAD is served by every GET route). */
export type Method = 'GET' | 'POST' | 'DELETE' | 'OPTIONS';

/**
 * Who may call a route: `bearer` needs the management credentials, `public`
 * nothing (dashboard shell, OpenAPI document, health), `webhook` is forwarded to
 * messaging, which checks the provider's signature.
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
  courier: Courier;
  options: ResolvedHttpOptions;
  /** Calls the courier member at a dotted path (checked by `requires` beforehand). */
  call(path: string, ...args: unknown[]): Promise<unknown>;
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
  /** Dotted path of the courier member the route needs; absent → 501 (404 for webhooks). */
  requires?: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Whether a body must be sent (default: when `body` is given). */
  bodyRequired?: boolean;
  /** Documented responses by status; the lowest 2xx is what the example gets. */
  responses: Record<number, ResponseSpec>;
  /** A request that succeeds on the documented test fixture. */
  example?: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown };
  /** Renames an engine field in error responses to the name the client sent. */
  mapField?: (field: string) => string;
  handle(ctx: RouteContext<Out<P>, Out<Q>, Out<B>>): Promise<Reply | Response>;
}

/** Declares a route with its handler typed from its schemas. */
export function defineRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  route: Route<P, Q, B>,
): Route {
  return route as unknown as Route;
}
