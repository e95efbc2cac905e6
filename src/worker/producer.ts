/**
 * The producer keeps this process's buffer of claimed tasks filled.
 *
 * Modes, changed only in `#enter`:
 * - `stopped`: not started yet, or stopped;
 * - `waiting`: nothing known to be due: waits for a poke (NOTIFY, a poll, a due
 *   time it learned of, a freed slot when the last claim came back full);
 * - `claiming`: one claim statement is in flight (never two at once);
 * - `full`: the buffer holds enough (all it may, or more than half of it while
 *   every slot is busy); a freed slot or a taken task resumes claiming;
 * - `backoff`: the last claim failed; the next one runs after a capped delay;
 * - `draining`: `stop()` began: no more claims; the buffer is handed back.
 *
 * The buffer holds about {@link PREFETCH_HORIZON_MS} of work at the observed run
 * time, so quick tasks are claimed hundreds per statement while slow ones are not
 * hoarded away from other workers. It refills once it is half empty, so each
 * claim statement is worth its round trip.
 */
import { Attempt } from './attempt.js';
import type { ClaimedTask } from './claim.js';

/** The buffer aims to hold about this much work (ms of handler time per slot). */
const PREFETCH_HORIZON_MS = 50;
/** Most future wake-up times remembered (beyond that the poll finds the work). */
const MAX_WAKEUPS = 256;

/** The producer's mode; see the file header. */
export type ProducerMode = 'stopped' | 'waiting' | 'claiming' | 'full' | 'backoff' | 'draining';

/** What a producer needs from its processor. */
export interface ProducerDeps {
  /** Handler slots. */
  concurrency: number;
  /** Most claimed tasks held beyond the slots. */
  prefetch: number;
  /** Most tasks per claim statement. */
  batchSize: number;
  /** Claims up to `limit` due tasks. */
  claim(limit: number): Promise<ClaimedTask[]>;
  /** Handlers running now. */
  busy(): number;
  /** Outcomes waiting for their write: beyond one buffer's worth they hold claiming back. */
  backlog(): number;
  /**
   * Claimed tasks arrived: in the buffer, or `late` when the producer began
   * draining while their claim was in flight (they must be handed back).
   */
  onClaimed(attempts: Attempt[], late: boolean): void;
  onError(err: Error, context: string, extra: Record<string, unknown>): void;
}

/** Claims due tasks into a local buffer; see the file header for its modes. */
export class Producer {
  readonly #deps: ProducerDeps;
  #mode: ProducerMode = 'stopped';
  #buffer: Attempt[] = [];
  #head = 0;
  /** Work may be due that the last claim did not take. */
  #dirty = true;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /**
   * Moving average of handler run time (ms), which sizes the prefetch. It starts
   * at 10 ms, so a new worker claims about six tasks per slot until its tasks
   * prove quicker, instead of hoarding slow ones away from the other workers.
   */
  #avgRunMs = 10;
  /** Future times (epoch ms) at which tasks become due, ascending. */
  #wakeups: number[] = [];
  #wakeTimer: NodeJS.Timeout | undefined;
  #lastClaimAt = 0;
  #inflight: Promise<void> | undefined;

  constructor(deps: ProducerDeps) {
    this.#deps = deps;
  }

  get mode(): ProducerMode {
    return this.#mode;
  }

  /** Claimed tasks waiting for a slot. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  /** When the last claim statement returned (epoch ms; 0 before the first). */
  get lastClaimAt(): number {
    return this.#lastClaimAt;
  }

  /** Starts claiming. */
  start(): void {
    this.#enter('waiting');
    this.#armWakeup();
    this.poke();
  }

  /** Resolves once no claim statement is in flight. */
  async settled(): Promise<void> {
    await this.#inflight;
  }

  /** Work may be due now: claim if there is room. */
  poke(): void {
    this.#dirty = true;
    this.#resume();
  }

  /** The database answers again (the LISTEN connection is back, e.g. on a new primary): end a claim backoff now. */
  recover(): void {
    if (this.#mode !== 'backoff') return;
    clearTimeout(this.#retryTimer);
    this.#enter('waiting');
    this.poke();
  }

  /** A task becomes due at `at` (epoch ms): claim then. */
  wakeAt(at: number): void {
    if (at <= Date.now()) {
      this.poke();
      return;
    }
    const w = this.#wakeups;
    if (w.length >= MAX_WAKEUPS && at >= (w[w.length - 1] as number)) return;
    let i = w.length;
    while (i > 0 && (w[i - 1] as number) > at) i--;
    if (w[i - 1] === at) return;
    w.splice(i, 0, at);
    if (w.length > MAX_WAKEUPS) w.pop();
    if (i === 0) this.#armWakeup();
  }

  /** A handler finished after `ms`: its slot is free. */
  finished(ms: number): void {
    this.#avgRunMs = this.#avgRunMs * 0.9 + ms * 0.1;
    this.#resume();
  }

  /** Outcomes were written: room may have grown. */
  written(): void {
    this.#resume();
  }

  /** The next buffered task to run, if any (lost ones are skipped). */
  take(): Attempt | undefined {
    while (this.#head < this.#buffer.length) {
      const next = this.#buffer[this.#head++] as Attempt;
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
      if (next.phase === 'buffered') {
        this.#resume();
        return next;
      }
    }
    return undefined;
  }

  /** Stops claiming for good and hands back the buffered tasks (to be released). */
  drain(): Attempt[] {
    this.#enter('draining');
    const left = this.#buffer.slice(this.#head).filter((a) => a.phase === 'buffered');
    this.#buffer = [];
    this.#head = 0;
    return left;
  }

  /** Stops claiming (after {@link Producer.drain}, or when nothing was claimed). */
  stop(): void {
    this.#enter('stopped');
  }

  /**
   * How many more tasks may be claimed now. Outcomes not yet written count once
   * they exceed a buffer's worth: handlers must not outrun the writes, or leases
   * would have to be renewed for ever more finished work.
   */
  #room(): number {
    const d = this.#deps;
    const holding = d.concurrency + Math.min(d.prefetch, Math.ceil((d.concurrency * PREFETCH_HORIZON_MS) / Math.max(this.#avgRunMs, 0.01)));
    return holding - d.busy() - this.buffered - Math.max(0, d.backlog() - holding);
  }

  /** Claims again when there is work and room worth a statement. */
  #resume(): void {
    if (this.#mode !== 'waiting' && this.#mode !== 'full') return;
    const room = this.#room();
    const idleSlots = this.#deps.busy() + this.buffered < this.#deps.concurrency;
    if (room <= 0 || !this.#dirty || (!idleSlots && room < this.buffered)) {
      // Refill once half the holding is free, or at once when slots would idle.
      this.#enter(room > 0 && !this.#dirty ? 'waiting' : 'full');
      return;
    }
    this.#enter('claiming');
    this.#inflight = this.#claim(Math.min(room, this.#deps.batchSize)).finally(() => {
      this.#inflight = undefined;
    });
  }

  async #claim(want: number): Promise<void> {
    this.#dirty = false;
    try {
      const tasks = await this.#deps.claim(want);
      this.#lastClaimAt = Date.now();
      this.#failures = 0;
      // A full batch means more may be due.
      if (tasks.length === want) this.#dirty = true;
      const attempts = tasks.map((t) => new Attempt(t));
      if (this.#mode !== 'claiming') {
        // Draining began while the claim was in flight: these go straight back.
        if (attempts.length > 0) this.#deps.onClaimed(attempts, true);
        return;
      }
      for (const a of attempts) this.#buffer.push(a);
      this.#enter('waiting');
      if (attempts.length > 0) this.#deps.onClaimed(attempts, false);
      this.#resume();
    } catch (err) {
      this.#dirty = true;
      this.#failures++;
      const delay = Math.min(5000, 100 * 2 ** Math.min(this.#failures, 6));
      this.#deps.onError(err as Error, 'claim', { retryInMs: delay });
      if (this.#mode !== 'claiming') return;
      this.#enter('backoff');
      this.#retryTimer = setTimeout(() => {
        if (this.#mode !== 'backoff') return;
        this.#enter('waiting');
        this.#resume();
      }, delay);
    }
  }

  #armWakeup(): void {
    clearTimeout(this.#wakeTimer);
    const next = this.#wakeups[0];
    if (next === undefined || this.#mode === 'stopped' || this.#mode === 'draining') return;
    this.#wakeTimer = setTimeout(
      () => {
        const now = Date.now();
        while (this.#wakeups.length > 0 && (this.#wakeups[0] as number) <= now) this.#wakeups.shift();
        this.poke();
        this.#armWakeup();
      },
      Math.min(Math.max(0, next - Date.now()) + 1, 2_147_483_647),
    );
    this.#wakeTimer.unref();
  }

  /** The one place the mode changes. */
  #enter(mode: ProducerMode): void {
    if (this.#mode === 'stopped' && mode !== 'waiting') return;
    if (this.#mode === 'draining' && mode !== 'stopped') return;
    this.#mode = mode;
    if (mode === 'draining' || mode === 'stopped') {
      clearTimeout(this.#retryTimer);
      clearTimeout(this.#wakeTimer);
    }
  }
}
