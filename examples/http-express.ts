// The HTTP API, webhooks and dashboard mounted in an Express app.
//   COURIER_TOKEN=$(openssl rand -hex 24) node --import tsx examples/run.ts http-express
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { type CourierHttpHandler, createHttpHandler } from '../src/http/index.js';
import { createCourier } from '../src/index.js';

/**
 * Mount `api.node` before body parsers: webhook signatures are computed over the raw
 * body. Requests outside the base path fall through to the app (`next()`).
 */
export function createApp(api: CourierHttpHandler): express.Express {
  const app = express();
  app.use(api.node); // or: app.use('/courier', api.node)
  app.use(express.json());
  app.get('/', (_req, res) => {
    res.type('text').send('the host application');
  });
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const courier = createCourier({ connectionString: process.env.DATABASE_URL });
  courier.registerTask('send_report', async ({ to }: { to: string }) => ({ sentTo: to }));
  await courier.migrate();
  await courier.start({ concurrency: 4 });

  const token = process.env.COURIER_TOKEN ?? randomBytes(24).toString('hex');
  const api = createHttpHandler(courier, { basePath: '/courier', auth: { token } });
  const server = createApp(api).listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    console.log(`dashboard: http://127.0.0.1:${port}/courier/   token: ${process.env.COURIER_TOKEN ? '(from COURIER_TOKEN)' : token}`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void courier.close({ grace: 10 });
  });
}
