import { EventEmitter } from 'node:events';

/** Identifies a task in events. */
export interface TaskEventBase {
  /** Task id. */
  id: string;
  /** Task name. */
  name: string;
  /** Queue. */
  queue: string;
  /** Attempt number (1-based). */
  attempt: number;
}

/** Events a courier emits, with their payloads. */
export interface CourierEventMap {
  /** Tasks were enqueued by this process (one event per enqueue call). */
  'task:enqueued': { ids: string[] };
  /** A handler started in this process. */
  'task:started': TaskEventBase;
  /** An attempt succeeded and its result was written. */
  'task:succeeded': TaskEventBase & { durationMs: number };
  /** An attempt failed for good (no retries left, or a PermanentError). */
  'task:failed': TaskEventBase & { error: string };
  /** An attempt failed and the task was rescheduled. */
  'task:retrying': TaskEventBase & { error: string; delay: number };
  /** Tasks whose lease expired were put back (or failed) by this process's rescuer. */
  'task:rescued': { ids: string[] };
  /** Something went wrong in the background (claim, renewal, maintenance). */
  'worker:error': { error: Error; context: string };
}

/** Names of {@link CourierEventMap}. */
export type CourierEventName = keyof CourierEventMap;

/**
 * A typed event emitter. `worker:error` never throws when nobody listens (unlike
 * Node's plain 'error' event).
 *
 * @example
 * ```ts
 * courier.events.on('task:failed', (e) => alert(`${e.name} ${e.id} failed: ${e.error}`));
 * ```
 */
export class CourierEvents {
  readonly #emitter = new EventEmitter();

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<E extends CourierEventName>(event: E, listener: (payload: CourierEventMap[E]) => void): () => void {
    this.#emitter.on(event, listener);
    return () => this.#emitter.off(event, listener);
  }

  /** Subscribes for one occurrence. */
  once<E extends CourierEventName>(event: E, listener: (payload: CourierEventMap[E]) => void): void {
    this.#emitter.once(event, listener);
  }

  /** Removes a listener. */
  off<E extends CourierEventName>(event: E, listener: (payload: CourierEventMap[E]) => void): void {
    this.#emitter.off(event, listener);
  }

  /** Whether anyone listens to `event` (lets hot paths skip building a payload nobody reads). */
  hasListeners(event: CourierEventName): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  /** Emits an event; a listener that throws cannot break the worker. */
  emit<E extends CourierEventName>(event: E, payload: CourierEventMap[E]): void {
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (p: CourierEventMap[E]) => void)(payload);
      } catch {
        // Listeners are the host's code; a failure there must not fail a task.
      }
    }
  }
}
