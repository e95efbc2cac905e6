/**
 * `pgcourier/http`: the HTTP API, dashboard and plugin endpoints (messaging and
 * its provider webhooks) of a courier, as one web-standard handler.
 *
 * @example
 * ```ts
 * import { createHttpHandler } from 'pgcourier/http';
 *
 * const api = createHttpHandler(courier, { basePath: '/courier', auth: { token: process.env.COURIER_TOKEN! } });
 * http.createServer(api.node).listen(3000);
 * ```
 * @module
 */
export type { HttpCourier } from './courier-api.js';
export { type CourierHttpHandler, createHttpHandler, type FetchHandler } from './handler.js';
export { type NodeListener, type NodeListenerOptions, toNodeListener } from './node.js';
export type { DashboardOptions, HttpAuthOptions, HttpOptions } from './options.js';
export type { ProblemDetails } from './problem.js';
export type { Access, HttpExtension, Method, OverviewSections, Reply, ResponseSpec, Route, RouteContext } from './route.js';
export { defineRoute } from './route.js';
