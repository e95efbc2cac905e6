import { z } from 'zod';
import { countRedrivable, redriveFilterSchema } from '../../flow/redrive.js';
import { defineRoute, type Route } from '../route.js';
import { requestComponents } from '../schemas.js';

const redriveBody = redriveFilterSchema
  .extend({ dryRun: z.boolean('must be true or false').optional().describe('Only count the tasks it would move (for a confirmation); nothing changes.') })
  .strict()
  .register(requestComponents, { id: 'RedriveRequest', description: 'Which dead-lettered tasks to move back; every field narrows, `{}` takes them all.' });

const redrivenSchema = z
  .object({
    moved: z.int().describe('How many tasks moved back (0 in a dry run).'),
    matching: z.int().optional().describe('Dry run: how many tasks the filter matches now (at most `limit`).'),
  })
  .strict();

/** Dead-letter queues: move dead-lettered tasks back to their queue. */
export const redriveRoutes: Route[] = [
  defineRoute({
    operationId: 'redrive',
    method: 'POST',
    path: '/redrive',
    tag: 'queues',
    summary: 'Redrive dead-lettered tasks',
    description:
      'Moves dead-lettered tasks (failed for good, then moved to their queue\'s `deadLetter` queue) back to the queue they came from, to run again now with attempts reset, as `courier.redrive(filter)` does. Every field narrows; `{}` moves them all (at most `limit`, default 10000). With `dryRun: true`, only counts them.',
    access: 'bearer',
    body: redriveBody,
    responses: { 200: { description: 'How many moved (or, in a dry run, match).', schema: redrivenSchema, example: { moved: 3 } } },
    example: { body: { deadLetter: 'email.dead' } },
    async handle({ courier, body }) {
      const { dryRun, ...filter } = body;
      if (dryRun) return { status: 200, body: { moved: 0, matching: await countRedrivable(courier.pool, courier.names, filter) } };
      return { status: 200, body: { moved: await courier.redrive(filter) } };
    },
  }),
];
