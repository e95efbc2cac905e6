// The HTTP API on any fetch-style server: Hono, Bun.serve, Deno.serve, or a
// `export default { fetch }` worker. The handler is a plain (Request) => Response.
//   Hono:  app.all('/courier/*', (c) => api(c.req.raw)); app.all('/courier', (c) => api(c.req.raw));
//   Bun:   Bun.serve({ fetch: createFetchApp(api) })
// Run here on node:http through the bundled adapter:
//   COURIER_TOKEN=$(openssl rand -hex 24) node --import tsx examples/run.ts http-fetch
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { type CourierHttpHandler, createHttpHandler, toNodeListener } from '../src/http/index.js';
import { createCourier } from '../src/index.js';

/** A fetch-style app: pgcourier under its base path, the host's own routes elsewhere. */
export function createFetchApp(api: CourierHttpHandler): (request: Request) => Promise<Response> {
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === api.basePath || pathname.startsWith(`${api.basePath}/`)) return api(request);
    return new Response('the host application', { headers: { 'content-type': 'text/plain' } });
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const courier = createCourier({ connectionString: process.env.DATABASE_URL });
  courier.registerTask('send_report', async ({ to }: { to: string }) => ({ sentTo: to }));
  await courier.migrate();
  await courier.start({ concurrency: 4 });

  const token = process.env.COURIER_TOKEN ?? randomBytes(24).toString('hex');
  const app = createFetchApp(createHttpHandler(courier, { basePath: '/courier', auth: { token } }));
  const server = http.createServer(toNodeListener(app)).listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    console.log(`dashboard: http://127.0.0.1:${port}/courier/   token: ${process.env.COURIER_TOKEN ? '(from COURIER_TOKEN)' : token}`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void courier.close({ grace: 10 });
  });
}
