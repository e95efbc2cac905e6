import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { z } from 'zod';
import { type CourierHttpHandler, createHttpHandler, type HttpOptions, type NodeListener } from '../../src/http/index.js';
import { type Courier, defineTask, PermanentError } from '../../src/index.js';
import { type MessagingCourier, messages } from '../../src/messages/index.js';
import { testCourier } from '../helpers/db.js';

/** The bearer token every HTTP test uses. */
export const TOKEN = 'pgcourier-test-token-0123456789';
/** Origin of requests sent straight to the fetch handler. */
export const ORIGIN = 'http://courier.test';
/** Base path the tests mount the handler under. */
export const BASE = '/courier';

/** Switch read by `flaky`: while true it fails for good. */
export const flakySwitch = { fail: true };

/** Registers the tasks the HTTP tests (and the OpenAPI examples) use. */
export function registerFixtureTasks(courier: Courier): void {
  courier.registerTask(
    defineTask({
      name: 'send_welcome',
      payload: z.object({ userId: z.number() }),
      queue: 'email',
      async handler({ userId }, ctx) {
        await ctx.progress(1, 2);
        await ctx.progress(2, 2);
        return { sent: true, userId };
      },
    }),
  );
  courier.registerTask(
    defineTask({
      name: 'fail_always',
      maxRetries: 0,
      async handler() {
        throw new PermanentError('smtp said no: 550 mailbox unavailable');
      },
    }),
  );
  courier.registerTask(
    defineTask({
      name: 'flaky',
      maxRetries: 0,
      queue: 'reports',
      async handler() {
        if (flakySwitch.fail) throw new PermanentError('upstream returned 503');
        return { ok: true };
      },
    }),
  );
}

/** A migrated courier with the messages plugin (no providers), the fixture tasks and its HTTP handler. */
export async function apiCourier(options: Partial<HttpOptions> = {}): Promise<{ courier: MessagingCourier; api: CourierHttpHandler }> {
  const courier = (await testCourier({ plugins: [messages()] })) as MessagingCourier;
  registerFixtureTasks(courier);
  const api = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, ...options });
  return { courier, api };
}

/** Options of {@link call}. */
export interface CallOptions {
  /** Bearer token; `null` sends none (default: the right one). */
  token?: string | null;
  /** JSON body (serialised) or a raw string/bytes/stream. */
  body?: unknown;
  /** Raw body, sent as is. */
  raw?: string | Uint8Array | ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
}

/** Sends one request straight to a handler (no socket). */
export function call(api: (r: Request) => Promise<Response>, method: string, path: string, o: CallOptions = {}): Promise<Response> {
  const headers = new Headers(o.headers);
  const token = o.token === undefined ? TOKEN : o.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  let body: RequestInit['body'] = o.raw;
  if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  return api(new Request(`${ORIGIN}${path.startsWith('/') ? path : `/${path}`}`, init));
}

/** Asserts an RFC 9457 problem response and returns its body. */
export async function expectProblem(res: Response, status: number, field?: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^urn:pgcourier:problem:/), title: expect.any(String), detail: expect.any(String) });
  if (field !== undefined) expect(body.field).toBe(field);
  expect(text).not.toMatch(/\bat .+:\d+:\d+|stack/i);
  return body;
}

/** Starts a node:http server on 127.0.0.1:0 around a listener. */
export async function listen(listener: NodeListener | http.RequestListener): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer(listener as http.RequestListener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
