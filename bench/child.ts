import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledTree } from './compile.js';
import type { Tracker } from './tracker.js';
import type { FromChild, ToChild } from './worker-process.js';

const SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

/** Compiled JavaScript when it could be built, else the TypeScript through tsx. */
export async function workerCommand(): Promise<{ script: string; execArgv: string[]; runtime: 'node' | 'tsx' }> {
  const tree = await compiledTree();
  return tree ? { script: join(tree, 'bench', 'worker-process.js'), execArgv: [], runtime: 'node' } : { script: SCRIPT, execArgv: ['--import', 'tsx'], runtime: 'tsx' };
}

/** A consumer process of one peer (see worker-process.ts), as the parent sees it. */
export class WorkerChild {
  readonly process: ChildProcess;
  finished = 0;
  rss = 0;
  heapUsed = 0;
  #ready: Promise<void>;
  #result: Promise<Extract<FromChild, { type: 'result' }>>;

  /** Use {@link WorkerChild.spawn}. */
  private constructor(command: { script: string; execArgv: string[] }, peer: string, url: string, concurrency: number, jobs: number) {
    this.process = fork(command.script, [peer, url, String(concurrency), String(jobs)], {
      execArgv: command.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let failed: (err: Error) => void = () => {};
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => {});
    // 'close' comes after the last IPC message was read; 'exit' can come before it.
    this.process.on('close', (code) => failed(new Error(`${peer} worker process exited with code ${code}`)));
    let ready: () => void = () => {};
    let result: (r: Extract<FromChild, { type: 'result' }>) => void = () => {};
    this.#ready = Promise.race([new Promise<void>((r) => (ready = r)), failure]);
    this.#result = Promise.race([new Promise<Extract<FromChild, { type: 'result' }>>((r) => (result = r)), failure]);
    this.process.on('message', (message: FromChild) => {
      if (message.type === 'ready') ready();
      else if (message.type === 'progress') {
        this.finished = message.finished;
        this.rss = message.rss;
        this.heapUsed = message.heapUsed;
      } else if (message.type === 'result') result(message);
      else if (message.type === 'error') failed(new Error(`${peer} worker process: ${message.message}`));
    });
  }

  /** Forks a worker process of `peer` on the database at `url`. */
  static async spawn(peer: string, url: string, concurrency: number, jobs: number): Promise<WorkerChild> {
    return new WorkerChild(await workerCommand(), peer, url, concurrency, jobs);
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  go(): void {
    this.#send({ type: 'go' });
  }

  /** Stops consuming and returns what the process ran. */
  stop(): Promise<Extract<FromChild, { type: 'result' }>> {
    this.#send({ type: 'stop' });
    return this.#result;
  }

  /** Waits for the process to exit on its own, killing it after `timeoutMs`. */
  async exited(timeoutMs = 10_000): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exit = new Promise<void>((r) => this.process.once('exit', () => r()));
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    await exit;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }

  #send(message: ToChild): void {
    this.process.send(message);
  }
}

/**
 * Stops worker children after a drain, merges what each ran into `tracker` and waits
 * for them to exit; returns when the last job ended and what the tracker found wrong.
 */
export async function collectRuns(children: WorkerChild[], tracker: Tracker): Promise<{ lastEnd: number; error: string | undefined }> {
  let lastEnd = Number.NaN;
  for (const result of await Promise.all(children.map((c) => c.stop()))) {
    tracker.merge(result.runs, result.started, result.firstStart);
    if (!(lastEnd >= result.lastEnd)) lastEnd = result.lastEnd;
  }
  await Promise.all(children.map((c) => c.exited()));
  return { lastEnd, error: tracker.verify() ?? undefined };
}
