import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { responseComponents, taskIdSchema, taskStatusSchema } from '../schemas.js';

const idParams = z.object({ id: taskIdSchema }).strict();

const counts = { total: z.int(), waiting: z.int(), queued: z.int(), running: z.int(), succeeded: z.int(), failed: z.int(), cancelled: z.int() };

/** `GET /workflows/{id}` response. */
export const workflowSchema = z
  .looseObject({
    id: z.string(),
    kind: z.enum(['workflow', 'batch']),
    name: z.string().nullable(),
    status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
    progress: z.object(counts).describe("Tasks by state (a batch's members only)."),
    createdAt: z.iso.datetime(),
    steps: z.array(
      z.looseObject({
        taskId: z.string(),
        step: z.string().nullable(),
        name: z.string(),
        status: taskStatusSchema,
        dependsOn: z.array(z.string()).describe('Task ids of the parents.'),
        pendingParents: z.int(),
        attempts: z.int(),
        result: z.unknown(),
        lastError: z.string().nullable(),
        startedAt: z.iso.datetime().nullable(),
        finishedAt: z.iso.datetime().nullable(),
      }),
    ),
  })
  .register(responseComponents, { id: 'Workflow', description: 'A workflow or batch: each step with its state and edges, and counts by state.' });

const exampleWorkflow = {
  id: '1',
  kind: 'workflow',
  name: 'monthly-report',
  status: 'running',
  progress: { total: 3, waiting: 1, queued: 0, running: 1, succeeded: 1, failed: 0, cancelled: 0 },
  createdAt: '2025-01-01T12:00:00.000Z',
  steps: [
    { taskId: '10', step: 'report:acme', name: 'build_report', status: 'succeeded', dependsOn: [], pendingParents: 0, attempts: 1, result: { rows: 12 }, lastError: null, startedAt: '2025-01-01T12:00:00.050Z', finishedAt: '2025-01-01T12:00:00.300Z' },
    { taskId: '11', step: 'report:globex', name: 'build_report', status: 'running', dependsOn: [], pendingParents: 0, attempts: 1, result: null, lastError: null, startedAt: '2025-01-01T12:00:00.060Z', finishedAt: null },
    { taskId: '12', step: 'summary', name: 'send_summary', status: 'waiting', dependsOn: ['10', '11'], pendingParents: 1, attempts: 0, result: null, lastError: null, startedAt: null, finishedAt: null },
  ],
};

/** Workflow and batch endpoints. */
export const workflowRoutes: Route[] = [
  defineRoute({
    operationId: 'getWorkflow',
    method: 'GET',
    path: '/workflows/{id}',
    tag: 'workflows',
    summary: 'Get a workflow or batch',
    description: 'Each step with its state, parents and result, and the counts of tasks by state (for a batch, of its members).',
    access: 'bearer',
    params: idParams,
    responses: { 200: { description: 'The workflow.', schema: workflowSchema, example: exampleWorkflow }, 404: { description: 'No workflow with this id.' } },
    example: { params: { id: '1' } },
    async handle({ courier, params }) {
      const workflow = await courier.getWorkflow(params.id);
      if (!workflow) throw new HttpProblem('not-found', `workflow ${params.id} does not exist`, { field: 'id' });
      return { status: 200, body: workflow };
    },
  }),
];
