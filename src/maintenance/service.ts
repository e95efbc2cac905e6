/**
 * The one shape of every maintenance service a processor runs (rescue, cron,
 * heartbeat, queue settings, history): started with the processor, stopped
 * before it; `stop()` waits for work in progress.
 */
export interface Service {
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

/**
 * Runs `tick` every `interval` seconds (and at start, unless told it just ran), never two at once. A tick
 * that throws is reported to `onError` and the next one runs as planned. The timer
 * does not keep the process alive.
 */
export class Periodic implements Service {
  readonly #interval: number;
  readonly #tick: () => Promise<void>;
  readonly #onError: (err: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(interval: number, tick: () => Promise<void>, onError: (err: Error) => void) {
    this.#interval = interval;
    this.#tick = tick;
    this.#onError = onError;
  }

  /** Starts the timer; `runNow: false` when the caller has just done the tick's work itself. */
  start(runNow = true): void {
    clearInterval(this.#timer);
    if (runNow) void this.run();
    this.#timer = setInterval(() => void this.run(), this.#interval * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Runs a tick now, or joins the one in progress. Never throws. */
  run(): Promise<void> {
    this.#running ??= this.#tick()
      .catch((err: Error) => this.#onError(err))
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }
}
