import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { batchListSchema, batchSchema, messageSchema, messageSentSchema, messageStatusSchema, opaqueIdSchema, sendBulkBody, sendMessageBody } from '../schemas.js';

const idParams = z.object({ id: opaqueIdSchema }).strict();

/** Normalises what `listBatches()` returns to an array. */
export function batchList(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  const inner = (result as { batches?: unknown } | null)?.batches;
  return Array.isArray(inner) ? (inner as Record<string, unknown>[]) : [];
}

function idOf(result: unknown): string {
  if (typeof result === 'string') return result;
  const id = (result as { id?: unknown } | null)?.id;
  return id === undefined || id === null ? '' : String(id);
}

/** Message queue endpoints: status, send, read, batches. */
export const messageRoutes: Route[] = [
  defineRoute({
    operationId: 'getMessageStatus',
    method: 'GET',
    path: '/messages/status',
    tag: 'messages',
    summary: 'Message queue status',
    description: 'Message counts per channel and status.',
    access: 'bearer',
    requires: 'messages.status',
    responses: { 200: { description: 'Counts.', schema: messageStatusSchema } },
    async handle({ call }) {
      return { status: 200, body: (await call('messages.status')) ?? {} };
    },
  }),
  defineRoute({
    operationId: 'sendMessage',
    method: 'POST',
    path: '/messages',
    tag: 'messages',
    summary: 'Send a message',
    description: 'Records the message and enqueues its send; returns its id.',
    access: 'bearer',
    requires: 'messages.send',
    body: sendMessageBody,
    responses: { 201: { description: 'Queued.', schema: messageSentSchema, example: { id: '3f2b8c1e-9a0d-4e57-b6a1-0c2d4e6f8a90' } } },
    example: { body: { channel: 'sms', to: '+15555550100', body: 'Your code is 123456' } },
    async handle({ call, body, options }) {
      const id = idOf(await call('messages.send', body));
      return { status: 201, body: { id }, headers: { location: `${options.basePath}/messages/${encodeURIComponent(id)}` } };
    },
  }),
  defineRoute({
    operationId: 'getMessage',
    method: 'GET',
    path: '/messages/{id}',
    tag: 'messages',
    summary: 'Get a message',
    access: 'bearer',
    requires: 'messages.get',
    params: idParams,
    responses: { 200: { description: 'The message.', schema: messageSchema }, 404: { description: 'No such message.' } },
    async handle({ call, params }) {
      const message = await call('messages.get', params.id);
      if (!message) throw new HttpProblem('not-found', 'no message has this id', { field: 'id' });
      return { status: 200, body: message };
    },
  }),
  defineRoute({
    operationId: 'listBatches',
    method: 'GET',
    path: '/batches',
    tag: 'messages',
    summary: 'Bulk-send batches',
    description: 'Batches with their progress, as `messages.listBatches()` returns them.',
    access: 'bearer',
    requires: 'messages.listBatches',
    responses: { 200: { description: 'Batches.', schema: batchListSchema } },
    async handle({ call }) {
      return { status: 200, body: { batches: batchList(await call('messages.listBatches')) } };
    },
  }),
  defineRoute({
    operationId: 'sendBulk',
    method: 'POST',
    path: '/batches',
    tag: 'messages',
    summary: 'Start a bulk send',
    description: 'Records one message per recipient in a batch and enqueues their sends, paced by the per-channel rate limits; returns the batch id.',
    access: 'bearer',
    requires: 'messages.sendBulk',
    body: sendBulkBody,
    responses: { 201: { description: 'Batch created.', schema: messageSentSchema, example: { id: '0b7c2f3e-6a51-4c1e-9d2a-1f0e8c9b7a65' } } },
    example: { body: { channel: 'sms', name: 'spring-sale', template: 'Hi {{name}}, 20% off today', recipients: [{ to: '+15555550101', variables: { name: 'Ana' } }, { to: '+15555550102', variables: { name: 'Ben' } }] } },
    async handle({ call, body, options }) {
      const id = idOf(await call('messages.sendBulk', body));
      return { status: 201, body: { id }, headers: { location: `${options.basePath}/batches/${encodeURIComponent(id)}` } };
    },
  }),
  defineRoute({
    operationId: 'getBatch',
    method: 'GET',
    path: '/batches/{id}',
    tag: 'messages',
    summary: 'Get a bulk-send batch',
    access: 'bearer',
    requires: 'messages.getBatch',
    params: idParams,
    responses: { 200: { description: 'The batch and its progress.', schema: batchSchema }, 404: { description: 'No such batch.' } },
    async handle({ call, params }) {
      const batch = await call('messages.getBatch', params.id);
      if (!batch) throw new HttpProblem('not-found', 'no batch has this id', { field: 'id' });
      return { status: 200, body: batch };
    },
  }),
];
