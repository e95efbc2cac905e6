// A TCP proxy that sits between worker processes and Postgres and injects network
// faults on command: cut (reset every connection and refuse new ones), stall (keep
// every socket open but forward nothing), slow (delay every chunk), resume.
import { createServer, type Server, Socket } from 'node:net';

/** What the proxy does to traffic right now. */
export type ProxyMode = 'open' | 'cut' | 'stall';

interface Pipe {
  client: Socket;
  upstream: Socket;
}

/** One direction of a connection: queues chunks so that a delay keeps their order. */
class Direction {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #proxy: FaultProxy;
  readonly #queue: Array<{ due: number; chunk: Buffer }> = [];
  #timer: NodeJS.Timeout | undefined;
  #waitingDrain = false;

  constructor(from: Socket, to: Socket, proxy: FaultProxy) {
    this.#from = from;
    this.#to = to;
    this.#proxy = proxy;
    from.on('data', (chunk: Buffer) => {
      this.#queue.push({ due: Date.now() + proxy.delayMs, chunk });
      this.pump();
    });
  }

  /** Forwards what is due, unless stalled; keeps the source paused while stalled. */
  pump(): void {
    if (this.#to.destroyed || this.#waitingDrain) return;
    if (this.#proxy.mode === 'stall') {
      this.#from.pause();
      return;
    }
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as { due: number; chunk: Buffer };
      const wait = head.due - Date.now();
      if (wait > 0) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.#queue.shift();
      if (!this.#to.write(head.chunk)) {
        this.#from.pause();
        this.#waitingDrain = true;
        this.#to.once('drain', () => {
          this.#waitingDrain = false;
          this.pump();
        });
        return;
      }
    }
    if (this.#from.isPaused() && this.#to.writableLength === 0) this.#from.resume();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#queue.length = 0;
  }
}

/**
 * Listens on 127.0.0.1 and forwards every connection to `target`. Connection
 * strings pointed at {@link FaultProxy.port} go through it.
 */
export class FaultProxy {
  /** Current fault. */
  mode: ProxyMode = 'open';
  /** Added to every chunk in both directions, in milliseconds. */
  delayMs = 0;
  /** Connections accepted since the proxy started (also during faults). */
  accepted = 0;
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pipes = new Set<Pipe & { directions: Direction[] }>();
  #port = 0;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts a proxy to `target` on a free port of 127.0.0.1. */
  static async start(target: { host?: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy({ host: target.host ?? '127.0.0.1', port: target.port });
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = proxy.#server.address();
    proxy.#port = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#port;
  }

  /** Open client connections right now. */
  get connections(): number {
    return this.#pipes.size;
  }

  /** `connectionString` with its host and port replaced by the proxy's. */
  url(connectionString: string): string {
    const u = new URL(connectionString);
    u.hostname = '127.0.0.1';
    u.port = String(this.#port);
    return u.toString();
  }

  /** Resets every open connection (both sides) and resets new ones at once until {@link resume}. */
  cut(): void {
    this.mode = 'cut';
    for (const pipe of [...this.#pipes]) this.#drop(pipe);
  }

  /** Stops forwarding in both directions on every connection, old and new, keeping the sockets open. */
  stall(): void {
    this.mode = 'stall';
    for (const pipe of this.#pipes) for (const d of pipe.directions) d.pump();
  }

  /** Delays every chunk by `ms` milliseconds in each direction (0 to stop). */
  slow(ms: number): void {
    this.delayMs = ms;
  }

  /** Back to normal forwarding: no fault, no delay; stalled data flows on. */
  resume(): void {
    this.mode = 'open';
    this.delayMs = 0;
    for (const pipe of this.#pipes) {
      for (const socket of [pipe.client, pipe.upstream]) if (socket.isPaused()) socket.resume();
      for (const d of pipe.directions) d.pump();
    }
  }

  /** Closes the listening socket and every connection. */
  async close(): Promise<void> {
    for (const pipe of [...this.#pipes]) this.#drop(pipe);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.on('error', () => {});
    if (this.mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    upstream.on('error', () => {});
    const pipe = { client, upstream, directions: [] as Direction[] };
    this.#pipes.add(pipe);
    pipe.directions.push(new Direction(client, upstream, this), new Direction(upstream, client, this));
    if (this.mode === 'stall') for (const d of pipe.directions) d.pump();
    client.on('close', () => this.#drop(pipe));
    upstream.on('close', () => this.#drop(pipe));
    upstream.connect(this.#target.port, this.#target.host);
  }

  #drop(pipe: Pipe & { directions: Direction[] }): void {
    if (!this.#pipes.delete(pipe)) return;
    for (const d of pipe.directions) d.stop();
    for (const socket of [pipe.client, pipe.upstream]) {
      if (socket.destroyed) continue;
      // A reset, as a broken network or a killed middlebox would give.
      if (socket.readyState === 'open') socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
