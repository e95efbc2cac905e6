// The HTTP API, webhooks and dashboard on a plain node:http server.
//   COURIER_TOKEN=$(openssl rand -hex 24) node --import tsx examples/run.ts http-node
// then open http://127.0.0.1:<port>/courier/ and paste the token.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { type CourierHttpHandler, createHttpHandler } from '../src/http/index.js';
import { createCourier } from '../src/index.js';

/** The host's server: pgcourier answers under its base path, the app answers the rest. */
export function createServer(api: CourierHttpHandler): http.Server {
  return http.createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === api.basePath || path.startsWith(`${api.basePath}/`)) return api.node(req, res);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('the host application\n');
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const courier = createCourier({ connectionString: process.env.DATABASE_URL });
  courier.registerTask('resize_image', async ({ url }: { url: string }, ctx) => {
    await ctx.progress(1, 1);
    return { resized: url };
  });
  await courier.migrate();
  await courier.start({ concurrency: 4 });

  const token = process.env.COURIER_TOKEN ?? randomBytes(24).toString('hex');
  const api = createHttpHandler(courier, { basePath: '/courier', auth: { token } });
  const server = createServer(api).listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    console.log(`dashboard: http://127.0.0.1:${port}/courier/   token: ${process.env.COURIER_TOKEN ? '(from COURIER_TOKEN)' : token}`);
    console.log(`enqueue:   curl -H 'authorization: Bearer …' -H 'content-type: application/json' -d '{"name":"resize_image","payload":{"url":"a.png"}}' http://127.0.0.1:${port}/courier/tasks`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void courier.close({ grace: 10 });
  });
}
