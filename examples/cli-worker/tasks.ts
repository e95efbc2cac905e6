// A tasks module for the standalone worker:
//   pgcourier migrate && pgcourier worker --tasks ./dist/tasks.js --concurrency 10 --queues email
// (from this repo: node --import tsx examples/cli-worker/run.ts)
import { z } from 'zod';
import { defineTask, PermanentError } from '../../src/index.js';

export const resizeImage = defineTask({
  name: 'resize_image',
  payload: z.object({ url: z.string().url(), width: z.number().int().positive() }),
  queue: 'media',
  timeout: 60,
  async handler({ url, width }, ctx) {
    if (!url.startsWith('https://')) throw new PermanentError('only https images are fetched');
    await ctx.progress(1, 1);
    return { url, width };
  },
});

export const sendEmail = defineTask({
  name: 'send_email',
  payload: z.object({ to: z.string().email() }),
  queue: 'email',
  async handler({ to }) {
    return { to };
  },
});
