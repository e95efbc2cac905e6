import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Courier } from '../src/index.js';
import { databaseUrl, testCourier } from './helpers/db.js';

const exporter = new InMemorySpanExporter();
let courier: Courier;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  courier = await testCourier();
  for (const name of ['traced_ok', 'traced_flaky', 'traced_bad']) courier.registerTask(name, () => {});
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
  links: Array<{ traceId: string; spanId: string }>;
  status: { code: number; message?: string };
  events: string[];
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

    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'tracing-worker.ts')], {
      env: { ...process.env, DATABASE_URL: databaseUrl(), PGCOURIER_SCHEMA: courier.schema, EXPECT: '3' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    const spans = JSON.parse(out.trim()) as SpanJson[];
    const consumer = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    // ok: 1 attempt, flaky: 2, bad: 1.
    expect(consumer).toHaveLength(4);
    for (const s of consumer) {
      expect(s.name).toBe('process default');
      expect(s.links).toEqual([{ traceId, spanId }]);
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
});
