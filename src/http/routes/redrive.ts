import { z } from 'zod';
import { redriveFilterSchema } from '../../flow/redrive.js';
import { defineRoute, type Route } from '../route.js';

const redrivenSchema = z.object({ moved: z.int().describe('How many tasks moved back.') }).strict();

/** Dead-letter queues: move dead-lettered tasks back to their queue. */
export const redriveRoutes: Route[] = [
  defineRoute({
    operationId: 'redrive',
    method: 'POST',
    path: '/redrive',
    tag: 'queues',
    summary: 'Redrive dead-lettered tasks',
    description:
      'Moves dead-lettered tasks (failed for good, then moved to their queue\'s `deadLetter` queue) back to the queue they came from, to run again now with attempts reset, as `courier.redrive(filter)` does. Every field narrows; `{}` moves them all (at most `limit`, default 10000).',
    access: 'bearer',
    body: redriveFilterSchema,
    responses: { 200: { description: 'How many moved.', schema: redrivenSchema, example: { moved: 3 } } },
    example: { body: { deadLetter: 'email.dead' } },
    async handle({ courier, body }) {
      return { status: 200, body: { moved: await courier.redrive(body) } };
    },
  }),
];
