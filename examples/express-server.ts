// The processor embedded in an Express server, with graceful shutdown on SIGTERM.
//   node --import tsx examples/run.ts express-server
import express from 'express';
import { z } from 'zod';
import { createCourier, defineTask } from '../src/index.js';

const courier = createCourier({ connectionString: process.env.DATABASE_URL });
courier.registerTask(
  defineTask({
    name: 'send_welcome',
    payload: z.object({ email: z.string().email() }),
    retryDelay: 30,
    async handler({ email }, ctx) {
      ctx.logger.info({ email }, 'sending welcome email');
      return { sentTo: email };
    },
  }),
);

await courier.migrate();
await courier.start({ concurrency: 10 });

const app = express();
app.use(express.json());
app.post('/signup', async (req, res) => {
  try {
    const id = await courier.enqueueTask('send_welcome', { email: req.body?.email });
    res.status(202).json({ taskId: id });
  } catch (err) {
    res.status(400).json({ error: (err as Error).message });
  }
});
app.get('/tasks/:id', async (req, res) => {
  const task = await courier.getTask(req.params.id);
  task ? res.json(task) : res.status(404).end();
});
app.get('/healthz', (_req, res) => {
  const health = courier.health();
  res.status(health.ok ? 200 : 503).json(health);
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : '?'}`);
});

// Graceful shutdown: stop taking requests, let running tasks finish (up to 20 s), close the pool.
process.once('SIGTERM', () => {
  console.log('SIGTERM: draining');
  server.close();
  void courier.close({ grace: 20 }).then(() => {
    console.log('stopped cleanly');
    process.exit(0);
  });
});
