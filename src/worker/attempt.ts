import type { ClaimedTask } from './claim.js';
import type { Fence } from './settle.js';

/**
 * Where a claimed task is in this process:
 * - `buffered`: claimed and leased, waiting in the producer's buffer for a slot;
 * - `running`: its handler runs;
 * - `settling`: the handler returned; its outcome waits for the completer's write;
 * - `dropped`: the lease is gone (lost, or handed back at shutdown): whatever the
 *   handler returns is discarded.
 */
export type Phase = 'buffered' | 'running' | 'settling' | 'dropped';

/** One claimed task in this process, from claim to settlement. */
export class Attempt {
  readonly task: ClaimedTask;
  phase: Phase = 'buffered';
  #controller: AbortController | undefined;
  #reason: Error | undefined;

  constructor(task: ClaimedTask) {
    this.task = task;
  }

  /** Task id and lease token: what every write for this attempt must present. */
  get fence(): Fence {
    return { id: this.task.id, token: this.task.token };
  }

  /** The handler's abort signal, made on first use (most handlers never read it). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts the handler's signal with `reason` (once; later reasons are ignored). */
  abort(reason: Error): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}
