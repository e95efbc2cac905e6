/**
 * OpenTelemetry, when `@opentelemetry/api` is installed (an optional peer
 * dependency): enqueue stores the active span's W3C `traceparent` on the task, and
 * the worker runs each attempt in a consumer span linked to it, with the messaging
 * semantic-convention attributes. The attempt that finishes a task stores its own
 * span's traceparent (`run_traceparent`) in the completion statement, and the spans
 * of its dependents (workflow steps, batch callbacks) link to those of their
 * parents. The API is imported dynamically, once per process, the first time a
 * courier enqueues or starts after OpenTelemetry was registered; until then, or
 * without it, nothing here costs more than a resolved promise. Without a
 * registered SDK the API's spans are no-ops and no traceparent is ever stored.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { SqlNames } from './db/names.js';
import { type PgQueryable, runPlanned } from './db/pool.js';

/** What the rest of pgcourier needs from OpenTelemetry. */
export interface Tracing {
  /** Whether an SDK is registered (else every span is a no-op and attempts skip tracing altogether). */
  active(): boolean;
  /** `traceparent` of the active span, or null (no span, or not sampled into a valid context). */
  traceparent(): string | null;
  /**
   * Runs `fn` in a consumer span of `task`, linked to its enqueue's span and to
   * the run spans of its parents (read by `links()` only when the span records:
   * with no SDK registered it costs nothing). `fn` reports the outcome through
   * `end`, and gets the span's own traceparent (null when it is not sampled) to
   * store with the outcome.
   */
  consume<T>(task: ConsumedTask, links: () => Promise<TraceLinks>, fn: (end: (outcome: SpanOutcome) => void, runSpan: string | null) => Promise<T>): Promise<T>;
}

/** What a consumer span links to, as stored with the task and its parents. */
export interface TraceLinks {
  /** `traceparent` of the span that enqueued the task, or null. */
  enqueue: string | null;
  /** Run spans of the task's parents (workflow parents, or a batch callback's members), in id order, at most {@link MAX_PARENT_LINKS}. */
  parents: Array<{ id: string; traceparent: string }>;
  /** How many parents the task has (linked or not). */
  parentCount: number;
  /** Workflow or batch id and step name, when the task belongs to one. */
  workflowId: string | null;
  step: string | null;
}

/**
 * Most parents a consumer span links to: with the enqueue's link, 128 links, the
 * SDK's default span link limit (`OTEL_SPAN_LINK_COUNT_LIMIT`). A larger fan-in
 * links its first parents by id; `pgcourier.task.parents` gives the full count.
 */
export const MAX_PARENT_LINKS = 127;

const NO_LINKS: TraceLinks = { enqueue: null, parents: [], parentCount: 0, workflowId: null, step: null };

/** The task attributes a consumer span carries. */
export interface ConsumedTask {
  id: string;
  name: string;
  queue: string;
  attempt: number;
}

/** How an attempt ended, for its span. */
export type SpanOutcome = { kind: 'succeeded' } | { kind: 'retry'; error: string; delay: number } | { kind: 'failed'; error: string } | { kind: 'other'; detail: string };

let loading: Promise<Tracing | null> | undefined;
let loaded: Tracing | null | undefined;

/** Where `@opentelemetry/api` 1.x keeps what was registered (a provider, context manager, propagator). */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/**
 * Whether anything registered OpenTelemetry in this process. Until then every span
 * would be a no-op, so the API (about 9 MB of a worker's memory) is not even loaded.
 */
function otelRegistered(): boolean {
  return (globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] !== undefined;
}

/**
 * Loads OpenTelemetry once per process; resolves `null` when `@opentelemetry/api` is
 * not installed, or while nothing is registered (it is loaded once something is).
 */
export function loadTracing(): Promise<Tracing | null> {
  if (loading) return loading;
  if (!otelRegistered()) {
    loaded = null;
    return Promise.resolve(null);
  }
  loading = import('@opentelemetry/api').then(
    (api) => (loaded = makeTracing(api)),
    () => (loaded = null),
  );
  return loading;
}

/**
 * The loaded tracing, `null` without OpenTelemetry, `undefined` while {@link loadTracing}
 * has not finished (it starts here when an SDK was registered after the last look).
 */
export function currentTracing(): Tracing | null | undefined {
  if (loaded === null && loading === undefined && otelRegistered()) {
    loaded = undefined;
    void loadTracing();
  }
  return loaded;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function makeTracing(api: typeof OtelApi): Tracing {
  const tracer = api.trace.getTracer('pgcourier');
  // What the global provider delegates to while no SDK is registered.
  const noop = new api.ProxyTracerProvider().getDelegate();
  return {
    active() {
      const provider = api.trace.getTracerProvider();
      return !(provider instanceof api.ProxyTracerProvider) || provider.getDelegate() !== noop;
    },
    traceparent() {
      const sc = api.trace.getSpan(api.context.active())?.spanContext();
      return sc && api.isSpanContextValid(sc) ? format(sc) : null;
    },
    consume(task, links, fn) {
      const span = tracer.startSpan(
        `process ${task.queue}`,
        {
          kind: api.SpanKind.CONSUMER,
          attributes: {
            'messaging.system': 'pgcourier',
            'messaging.operation.name': 'process',
            'messaging.operation.type': 'process',
            'messaging.destination.name': task.queue,
            'messaging.message.id': task.id,
            'pgcourier.task.name': task.name,
            'pgcourier.task.attempt': task.attempt,
          },
        },
        // A new trace: the enqueue is a link, not the parent (the messaging conventions' choice for consumers).
        api.ROOT_CONTEXT,
      );
      if (!span.isRecording()) return fn(() => span.end(), null);
      // The links are read while the handler runs (never delaying it); the span
      // ends, with the time the attempt ended, once they are in.
      const linked = links().then(
        (found) => {
          const enqueue = parse(found.enqueue);
          if (enqueue) span.addLink({ context: enqueue, attributes: { 'pgcourier.link': 'enqueue' } });
          for (const p of found.parents) {
            const context = parse(p.traceparent);
            if (context) span.addLink({ context, attributes: { 'pgcourier.link': 'parent', 'messaging.message.id': p.id } });
          }
          if (found.parentCount > 0) span.setAttribute('pgcourier.task.parents', found.parentCount);
          if (found.workflowId) span.setAttribute('pgcourier.workflow.id', found.workflowId);
          if (found.step) span.setAttribute('pgcourier.workflow.step', found.step);
        },
        () => {},
      );
      let ended = false;
      const end = (outcome: SpanOutcome) => {
        if (ended) return;
        ended = true;
        switch (outcome.kind) {
          case 'succeeded':
            span.setStatus({ code: api.SpanStatusCode.OK });
            break;
          case 'retry':
            span.addEvent('retry', { 'pgcourier.retry.delay': outcome.delay, 'exception.message': outcome.error });
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.error });
            break;
          case 'failed':
            span.addEvent('exception', { 'exception.message': outcome.error });
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.error });
            break;
          case 'other':
            span.setAttribute('pgcourier.task.outcome', outcome.detail);
        }
        const at = Date.now();
        void linked.then(() => span.end(at));
      };
      // Dependents link to this span only if it is exported (sampled).
      const own = span.spanContext();
      const runSpan = own.traceFlags & api.TraceFlags.SAMPLED ? format(own) : null;
      return api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), () => fn(end, runSpan)).finally(() => end({ kind: 'other', detail: 'unknown' }));
    },
  };

  function format(sc: OtelApi.SpanContext): string {
    return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & api.TraceFlags.SAMPLED) === 1 ? '01' : '00'}`;
  }
}

function parse(traceparent: string | null): OtelApi.SpanContext | null {
  const m = TRACEPARENT.exec(traceparent ?? '');
  return m ? { traceId: m[1] as string, spanId: m[2] as string, traceFlags: Number.parseInt(m[3] as string, 16), isRemote: true } : null;
}

/**
 * Reads what a consumer span links to (only while tracing is on): the
 * `traceparent` stored with the task at enqueue and the `run_traceparent` of its
 * parents. The claim does not return these columns, so reads of attempts that
 * start in the same turn of the event loop (a claimed batch) go together in one
 * statement; a plain task's row costs one empty index probe for its parents.
 */
export class TraceLinkReader {
  readonly #db: PgQueryable;
  readonly #names: SqlNames;
  #waiting = new Map<string, Array<(value: TraceLinks) => void>>();

  constructor(db: PgQueryable, names: SqlNames) {
    this.#db = db;
    this.#names = names;
  }

  /** The task's links (none when nothing is stored, or the read failed). */
  read(taskId: string): Promise<TraceLinks> {
    return new Promise((resolve) => {
      const first = this.#waiting.size === 0;
      const list = this.#waiting.get(taskId);
      if (list) list.push(resolve);
      else this.#waiting.set(taskId, [resolve]);
      // A short window: attempts start one by one as slots free up, and one read serves them all.
      if (first) setTimeout(() => void this.#flush(), 2);
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = new Map();
    const found = new Map<string, TraceLinks>();
    try {
      const tasks = this.#names.tasks;
      const { rows } = await runPlanned<{
        id: string;
        traceparent: string | null;
        parent_count: number | null;
        parent_ids: string[] | null;
        parent_spans: string[] | null;
        workflow_id: string | null;
        step: string | null;
      }>(
        this.#db,
        `SELECT t.id::text, t.traceparent, cardinality(t.depends_on) AS parent_count, p.ids AS parent_ids, p.spans AS parent_spans,
                t.workflow_id::text, t.step
           FROM ${tasks} AS t
           LEFT JOIN LATERAL (
             SELECT array_agg(q.id::text ORDER BY q.id) AS ids, array_agg(q.run_traceparent ORDER BY q.id) AS spans
               FROM (SELECT id, run_traceparent FROM ${tasks}
                      WHERE id = ANY (t.depends_on) AND run_traceparent IS NOT NULL
                      ORDER BY id LIMIT ${MAX_PARENT_LINKS}) AS q
           ) AS p ON t.depends_on IS NOT NULL
          WHERE t.id = ANY ($1::bigint[])`,
        [[...batch.keys()]],
      );
      for (const r of rows) {
        const ids = r.parent_ids ?? [];
        const spans = r.parent_spans ?? [];
        found.set(r.id, {
          enqueue: r.traceparent,
          parents: ids.map((id, i) => ({ id, traceparent: spans[i] as string })),
          parentCount: r.parent_count ?? 0,
          workflowId: r.workflow_id,
          step: r.step,
        });
      }
    } catch {
      // A span without its links is better than a failed attempt.
    }
    for (const [id, resolvers] of batch) for (const resolve of resolvers) resolve(found.get(id) ?? NO_LINKS);
  }
}
