import type { FlowRow } from './flow/options.js';

/**
 * One validated task to insert, as the manager builds it from a name, payload and
 * options: the plain insert, the flow-control insert (`flow/enqueue.ts`) and the
 * graph insert (`workflow/insert.ts`) all take this shape.
 */
export interface EnqueueRow {
  queue: string;
  name: string;
  /** JSON text. */
  payload: string;
  priority: number;
  maxRetries: number;
  retryDelay: number;
  timeout: number | null;
  runAt: Date | null;
  delay: number | null;
  key: string | null;
  /** Given at enqueue; null means the definition's at run time. */
  backoff: string | null;
  maxDelay: number | null;
  /** Group, sequence, debounce, window; null on the plain path. */
  flow: FlowRow | null;
  /** W3C traceparent of the enqueuing context, when tracing is on. */
  traceparent?: string | null;
}
