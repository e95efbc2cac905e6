/**
 * OpenTelemetry, when `@opentelemetry/api` is installed (an optional peer
 * dependency): enqueue stores the active span's W3C `traceparent` on the task, and
 * the worker runs each attempt in a consumer span linked to it, with the messaging
 * semantic-convention attributes. The API is imported dynamically, once per
 * process, the first time a courier enqueues or starts; without it nothing here
 * costs more than a resolved promise. Without a registered SDK the API's spans are
 * no-ops and no traceparent is ever stored.
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
   * Runs `fn` in a consumer span of `task`, linked to its enqueue's traceparent
   * (read by `traceparent()` only when the span records: with no SDK registered
   * it costs nothing); `fn` reports the outcome through `end`.
   */
  consume<T>(task: ConsumedTask, traceparent: () => Promise<string | null>, fn: (end: (outcome: SpanOutcome) => void) => Promise<T>): Promise<T>;
}

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

/** Loads OpenTelemetry once per process; resolves `null` when `@opentelemetry/api` is not installed. */
export function loadTracing(): Promise<Tracing | null> {
  loading ??= import('@opentelemetry/api').then(
    (api) => (loaded = makeTracing(api)),
    () => (loaded = null),
  );
  return loading;
}

/** The loaded tracing, `null` without OpenTelemetry, `undefined` while {@link loadTracing} has not finished. */
export function currentTracing(): Tracing | null | undefined {
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
      const span = api.trace.getSpan(api.context.active());
      const sc = span?.spanContext();
      if (!sc || !api.isSpanContextValid(sc)) return null;
      return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & api.TraceFlags.SAMPLED) === 1 ? '01' : '00'}`;
    },
    consume(task, traceparent, fn) {
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
      if (!span.isRecording()) return fn(() => span.end());
      // The link is read while the handler runs (never delaying it); the span ends,
      // with the time the attempt ended, once the link is in.
      const linked = traceparent().then(
        (tp) => {
          const m = TRACEPARENT.exec(tp ?? '');
          if (m) span.addLink({ context: { traceId: m[1] as string, spanId: m[2] as string, traceFlags: Number.parseInt(m[3] as string, 16), isRemote: true } });
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
      return api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), () => fn(end)).finally(() => end({ kind: 'other', detail: 'unknown' }));
    },
  };
}

/**
 * Reads the `traceparent` stored with tasks at enqueue (only while tracing is on).
 * The claim does not return the column, so reads of attempts that start in the
 * same turn of the event loop (a claimed batch) go together in one statement.
 */
export class TraceparentReader {
  readonly #db: PgQueryable;
  readonly #names: SqlNames;
  #waiting = new Map<string, Array<(value: string | null) => void>>();

  constructor(db: PgQueryable, names: SqlNames) {
    this.#db = db;
    this.#names = names;
  }

  /** The task's traceparent, or null (none stored, or the read failed). */
  read(taskId: string): Promise<string | null> {
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
    let found = new Map<string, string | null>();
    try {
      const { rows } = await runPlanned<{ id: string; traceparent: string | null }>(
        this.#db,
        `SELECT id::text, traceparent FROM ${this.#names.tasks} WHERE id = ANY ($1::bigint[])`,
        [[...batch.keys()]],
      );
      found = new Map(rows.map((r) => [r.id, r.traceparent]));
    } catch {
      // A span without its link is better than a failed attempt.
    }
    for (const [id, resolvers] of batch) for (const resolve of resolvers) resolve(found.get(id) ?? null);
  }
}
