import { z } from 'zod';
import type { HttpCourier } from '../courier-api.js';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { messageHistorySchema, messageListQuery, messageListSchema, opaqueIdSchema } from '../schemas.js';

/** The part of `courier.messages` these read-only routes use. */
interface MessageReads {
  attempts(id: string): Promise<unknown[]>;
  events(id: string): Promise<unknown[]>;
}

/** `courier.messages` when the messages plugin is installed, else `undefined`. */
export function messageReads(courier: HttpCourier): MessageReads | undefined {
  const api = (courier as { messages?: Partial<MessageReads> }).messages;
  return typeof api?.attempts === 'function' && typeof api.events === 'function' ? (api as MessageReads) : undefined;
}

interface MessageRow {
  id: string;
  channel: string;
  recipient: string;
  status: string;
  provider: string | null;
  batch_id: string | null;
  task_id: string | null;
  attempts: number;
  error_code: string | null;
  error_text: string | null;
  subject: string | null;
  created_at: Date;
  updated_at: Date;
  cursor_us: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Read-only views over the messages plugin's tables for the dashboard: a
 * filtered, keyset-paged message list and one message's send attempts and
 * provider events. Served only when the plugin is installed.
 */
export function messageBrowseRoutes(reads: MessageReads): Route[] {
  return [
    defineRoute({
      operationId: 'listMessages',
      method: 'GET',
      path: '/messages',
      tag: 'messages',
      summary: 'List messages',
      description: 'Newest first, filtered by channel, status and batch; keyset pagination through `cursor`. Bodies are left out.',
      access: 'bearer',
      query: messageListQuery,
      responses: {
        200: {
          description: 'One page of messages.',
          schema: messageListSchema,
          example: {
            messages: [
              {
                id: '3f2b8c1e-9a0d-4e57-b6a1-0c2d4e6f8a90',
                channel: 'sms',
                to: '+15555550100',
                status: 'delivered',
                provider: 'twilio',
                batchId: null,
                taskId: '12',
                attempts: 1,
                error: null,
                subject: null,
                createdAt: '2025-01-01T12:00:00.000Z',
                updatedAt: '2025-01-01T12:00:02.000Z',
              },
            ],
            nextCursor: null,
          },
        },
      },
      example: { query: { channel: 'sms', limit: '20' } },
      async handle({ courier, query }) {
        const where: string[] = [];
        const params: unknown[] = [];
        const p = (v: unknown) => {
          params.push(v);
          return `$${params.length}`;
        };
        if (query.channel) where.push(`channel = ${p(query.channel)}`);
        if (query.status) where.push(`status = ${p(query.status)}`);
        if (query.batch) {
          if (!UUID.test(query.batch)) return { status: 200, body: { messages: [], nextCursor: null } };
          where.push(`batch_id = ${p(query.batch)}::uuid`);
        }
        if (query.cursor) {
          const [us, id] = query.cursor.split('_');
          where.push(`(created_at, id) < ('epoch'::timestamptz + ${p(us)}::bigint * interval '1 microsecond', ${p(id)}::uuid)`);
        }
        const limit = query.limit ?? 50;
        const { rows } = await courier.pool.query<MessageRow>(
          `SELECT id, channel, recipient, status, provider, batch_id, task_id::text, attempts, error_code, error_text, subject, created_at, updated_at,
                  (extract(epoch FROM created_at) * 1000000)::bigint::text AS cursor_us
             FROM ${courier.names.table('messages')} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
            ORDER BY created_at DESC, id DESC LIMIT ${p(limit + 1)}`,
          params,
        );
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          status: 200,
          body: {
            messages: page.map((r) => ({
              id: r.id,
              channel: r.channel,
              to: r.recipient,
              status: r.status,
              provider: r.provider,
              batchId: r.batch_id,
              taskId: r.task_id,
              attempts: r.attempts,
              error: r.error_code || r.error_text ? { code: r.error_code, text: r.error_text } : null,
              subject: r.subject,
              createdAt: r.created_at,
              updatedAt: r.updated_at,
            })),
            nextCursor: rows.length > limit && last ? `${last.cursor_us}_${last.id}` : null,
          },
        };
      },
    }),
    defineRoute({
      operationId: 'getMessageHistory',
      method: 'GET',
      path: '/messages/{id}/history',
      tag: 'messages',
      summary: 'A message\'s send attempts and provider events',
      description: 'The send ledger (`messages.attempts(id)`) and the provider callbacks and notes (`messages.events(id)`), oldest first.',
      access: 'bearer',
      params: z.object({ id: opaqueIdSchema }).strict(),
      responses: {
        200: {
          description: 'Attempts and events.',
          schema: messageHistorySchema,
          example: {
            attempts: [{ n: 1, taskId: '12', taskAttempt: 1, provider: 'twilio', startedAt: '2025-01-01T12:00:00.000Z', finishedAt: '2025-01-01T12:00:00.300Z', outcome: 'ok', error: null, providerMessageId: 'SM123' }],
            events: [{ source: 'twilio', status: 'delivered', errorCode: null, note: null, applied: true, receivedAt: '2025-01-01T12:00:02.000Z' }],
          },
        },
        404: { description: 'No such message.' },
      },
      async handle({ courier, params }) {
        if (!UUID.test(params.id)) throw new HttpProblem('not-found', 'no message has this id', { field: 'id' });
        const { rows } = await courier.pool.query(`SELECT 1 FROM ${courier.names.table('messages')} WHERE id = $1::uuid`, [params.id]);
        if (rows.length === 0) throw new HttpProblem('not-found', 'no message has this id', { field: 'id' });
        const [attempts, events] = await Promise.all([reads.attempts(params.id), reads.events(params.id)]);
        return { status: 200, body: { attempts, events } };
      },
    }),
  ];
}
