import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Courier } from '../src/index.js';
import { databaseUrl, testCourier, waitFor } from './helpers/db.js';

const exporter = new InMemorySpanExporter();
let courier: Courier;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  courier = await testCourier();
  for (const name of ['traced_ok', 'traced_flaky', 'traced_bad', 'traced_step', 'traced_join']) courier.registerTask(name, () => {});
});
afterAll(async () => {
  await courier.close();
});

interface SpanJson {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, unknown> }>;
  status: { code: number; message?: string };
  events: string[];
}

/** Runs test/fixtures/tracing-worker.ts in its own process until `expect` tasks of `queues` finished; its consumer spans. */
async function workerProcess(expect: number, queues?: string[]): Promise<SpanJson[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'tracing-worker.ts')], {
    env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: courier.schema, EXPECT: String(expect), ...(queues ? { QUEUES: queues.join(',') } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`the worker process exited with ${code}`);
  return (JSON.parse(out.trim()) as SpanJson[]).filter((s) => s.kind === SpanKind.CONSUMER);
}

/** The one consumer span of task `id`. */
function spanOf(spans: SpanJson[], id: string): SpanJson {
  const found = spans.filter((s) => s.attributes['messaging.message.id'] === id);
  if (found.length !== 1) throw new Error(`expected one span of task ${id}, found ${found.length}`);
  return found[0] as SpanJson;
}

describe('OpenTelemetry', () => {
  it('enqueue stores the active traceparent; a worker in another process runs each attempt in a consumer span linked to it', async () => {
    const tracer = trace.getTracer('test');
    const request = tracer.startSpan('POST /reports');
    const ids = await context.with(trace.setSpan(context.active(), request), async () => ({
      ok: await courier.enqueueTask('traced_ok', {}),
      flaky: await courier.enqueueTask('traced_flaky', {}, { retryDelay: 0.1 }),
      bad: await courier.enqueueTask('traced_bad', {}),
    }));
    request.end();
    const untraced = await courier.enqueueTask('traced_ok', {}, { delay: 3600 });
    const { traceId, spanId } = request.spanContext();
    const stored = await courier.pool.query<{ id: string; traceparent: string | null }>(`SELECT id::text, traceparent FROM "${courier.schema}".tasks ORDER BY id`);
    expect(stored.rows).toEqual([
      { id: ids.ok, traceparent: `00-${traceId}-${spanId}-01` },
      { id: ids.flaky, traceparent: `00-${traceId}-${spanId}-01` },
      { id: ids.bad, traceparent: `00-${traceId}-${spanId}-01` },
      { id: untraced, traceparent: null },
    ]);

    const consumer = await workerProcess(3);
    // ok: 1 attempt, flaky: 2, bad: 1.
    expect(consumer).toHaveLength(4);
    for (const s of consumer) {
      expect(s.name).toBe('process default');
      expect(s.links).toEqual([{ traceId, spanId, attributes: { 'pgcourier.link': 'enqueue' } }]);
      expect(s.traceId).not.toBe(traceId); // a trace of its own, linked to the producer's
      expect(s.attributes).toMatchObject({ 'messaging.system': 'pgcourier', 'messaging.operation.type': 'process', 'messaging.destination.name': 'default' });
    }
    const byTask = (id: string) => consumer.filter((s) => s.attributes['messaging.message.id'] === id).sort((a, b) => Number(a.attributes['pgcourier.task.attempt']) - Number(b.attributes['pgcourier.task.attempt']));
    expect(byTask(ids.ok).map((s) => s.status.code)).toEqual([1]);
    const flaky = byTask(ids.flaky);
    expect(flaky.map((s) => [s.attributes['pgcourier.task.attempt'], s.status.code, s.events])).toEqual([
      [1, 2, ['retry']],
      [2, 1, []],
    ]);
    expect(byTask(ids.bad).map((s) => [s.status.code, s.status.message, s.events])).toEqual([[2, 'PermanentError: no way', ['exception']]]);
  });

  it('a workflow step links to its parents\' run spans and a batch callback to its members\', each run in another process', async () => {
    await courier.pool.query(`TRUNCATE "${courier.schema}".tasks`);
    const request = trace.getTracer('test').startSpan('POST /campaigns');
    const { flow, batch } = await context.with(trace.setSpan(context.active(), request), async () => ({
      flow: await courier
        .workflow('traced')
        .step('a', 'traced_step', {}, { queue: 'trace_first' })
        .step('b', 'traced_step', {}, { queue: 'trace_first' })
        .step('join', 'traced_join', {}, { queue: 'trace_second', dependsOn: ['a', 'b'] })
        .enqueue(),
      batch: await courier.batch(
        // The last member fails for good: its failure stores its run span too.
        ['traced_step', 'traced_step', 'traced_bad'].map((name) => ({ name, payload: {}, options: { queue: 'trace_first' } })),
        { onComplete: { task: 'traced_step', options: { queue: 'trace_second' } } },
      ),
    }));
    request.end();
    const enqueue = { traceId: request.spanContext().traceId, spanId: request.spanContext().spanId, attributes: { 'pgcourier.link': 'enqueue' } };

    // Process 1 runs the parents and members; each completion stores its run span.
    const first = await workerProcess(5, ['trace_first']);
    const parents = [flow.tasks.a, flow.tasks.b, ...batch.taskIds] as string[];
    expect(first).toHaveLength(5);
    expect(spanOf(first, batch.taskIds[2] as string).status.code).toBe(2);
    const stored = await courier.pool.query<{ id: string; run_traceparent: string | null }>(
      `SELECT t.id::text, t.run_traceparent FROM "${courier.schema}".tasks AS t WHERE t.queue = 'trace_first' ORDER BY t.id`,
    );
    expect(stored.rows).toEqual(
      parents.map((id) => {
        const s = spanOf(first, id);
        return { id, run_traceparent: `00-${s.traceId}-${s.spanId}-01` };
      }),
    );
    const runLink = (id: string) => {
      const s = spanOf(first, id);
      return { traceId: s.traceId, spanId: s.spanId, attributes: { 'pgcourier.link': 'parent', 'messaging.message.id': id } };
    };

    // Process 2 runs the join and the callback, linked to the spans process 1 ran them in.
    const second = await workerProcess(2, ['trace_second']);
    expect(second).toHaveLength(2);
    const join = spanOf(second, flow.tasks.join as string);
    expect(join.links).toEqual([enqueue, runLink(flow.tasks.a as string), runLink(flow.tasks.b as string)]);
    expect(join.attributes).toMatchObject({ 'pgcourier.task.parents': 2, 'pgcourier.workflow.id': flow.id, 'pgcourier.workflow.step': 'join' });
    const callback = spanOf(second, batch.callbacks.onComplete as string);
    expect(callback.links).toEqual([enqueue, ...batch.taskIds.map(runLink)]);
    expect(callback.attributes).toMatchObject({ 'pgcourier.task.parents': 3, 'pgcourier.workflow.id': batch.id });
    // The parents' own spans link to the enqueue only.
    for (const id of parents) expect(spanOf(first, id).links).toEqual([enqueue]);
  });

  it('a callback of a 130-member batch links to its first 127 members by id: 128 links, the SDK\'s default limit', async () => {
    await courier.pool.query(`TRUNCATE "${courier.schema}".tasks`);
    exporter.reset();
    const batch = await courier.batch(
      Array.from({ length: 130 }, () => ({ name: 'traced_step', payload: {} })),
      { onComplete: 'traced_join' },
    );
    await courier.drain();
    expect((await courier.getTask(batch.callbacks.onComplete as string))?.status).toBe('succeeded');
    // A span ends once its links are read, which may be just after its outcome is written.
    const spans = await waitFor(() => {
      const done = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER);
      return done.length === 131 ? done : null;
    }, 10_000, '131 consumer spans');
    const runSpan = new Map(spans.map((s) => [s.attributes['messaging.message.id'], s.spanContext().spanId]));
    const callback = spans.find((s) => s.attributes['messaging.message.id'] === batch.callbacks.onComplete);
    expect(callback?.attributes['pgcourier.task.parents']).toBe(130);
    // Enqueued outside any span: no enqueue link, only parents.
    expect(callback?.links.map((l) => [l.attributes?.['messaging.message.id'], l.context.spanId])).toEqual(
      batch.taskIds.slice(0, 127).map((id) => [id, runSpan.get(id)]),
    );
  });
});
