// The HTTP API, webhooks and dashboard mounted in a Fastify app.
//   COURIER_TOKEN=$(openssl rand -hex 24) node --import tsx examples/run.ts http-fastify
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type CourierHttpHandler, createHttpHandler } from '../src/http/index.js';
import { createCourier } from '../src/index.js';

/**
 * An encapsulated plugin under the base path: its content-type parser leaves the
 * body unread (webhook signatures need the raw bytes), and each request is handed
 * to `api.node` with the raw Node request and response after `reply.hijack()`.
 */
export async function createApp(api: CourierHttpHandler): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
      const forward = (request: FastifyRequest, reply: FastifyReply) => {
        reply.hijack();
        api.node(request.raw, reply.raw);
      };
      scope.all('/', forward);
      scope.all('/*', forward);
    },
    { prefix: api.basePath },
  );
  app.get('/', async () => 'the host application');
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const courier = createCourier({ connectionString: process.env.DATABASE_URL });
  courier.registerTask('send_report', async ({ to }: { to: string }) => ({ sentTo: to }));
  await courier.migrate();
  await courier.start({ concurrency: 4 });

  const token = process.env.COURIER_TOKEN ?? randomBytes(24).toString('hex');
  const app = await createApp(createHttpHandler(courier, { basePath: '/courier', auth: { token } }));
  const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
  console.log(`dashboard: ${address}/courier/   token: ${process.env.COURIER_TOKEN ? '(from COURIER_TOKEN)' : token}`);
  process.once('SIGTERM', () => {
    void app.close().then(() => courier.close({ grace: 10 }));
  });
}
