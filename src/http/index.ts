/**
 * The HTTP API, provider webhooks and dashboard of a courier, as one
 * web-standard handler; see `courier.http()`.
 */
export { type CourierHttpHandler, createHttpHandler, type FetchHandler } from './handler.js';
export { type NodeListener, type NodeListenerOptions, toNodeListener } from './node.js';
export type { DashboardOptions, HttpAuthOptions, HttpOptions } from './options.js';
export type { ProblemDetails } from './problem.js';
