// The fault proxy itself: each command does what the scenarios rely on.
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './harness.js';
import { FaultProxy } from './proxy.js';

let echo: Server;
let proxy: FaultProxy;

beforeAll(async () => {
  echo = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const address = echo.address();
  proxy = await FaultProxy.start({ port: typeof address === 'object' && address ? address.port : 0 });
});
afterAll(async () => {
  await proxy.close();
  await new Promise((r) => echo.close(r));
});

async function connect(): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const socket = new Socket();
  let data = '';
  socket.on('data', (c) => (data += c.toString()));
  socket.on('error', () => {});
  const closed = new Promise((r) => socket.once('close', r)); // events.once would reject on the reset's 'error'
  socket.connect(proxy.port, '127.0.0.1');
  await once(socket, 'connect');
  return { socket, received: () => data, closed };
}

describe('FaultProxy', () => {
  it('forwards in order, and slow() delays every chunk', async () => {
    const c = await connect();
    c.socket.write('a');
    c.socket.write('b');
    await until(() => c.received() === 'ab', 5000, 'echo');
    proxy.slow(150);
    const t0 = Date.now();
    c.socket.write('c');
    c.socket.write('d');
    await until(() => c.received() === 'abcd', 5000, 'slowed echo', 10);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290); // 150 ms each way
    proxy.resume();
    c.socket.destroy();
  });

  it('stall() holds data on open and new connections until resume()', async () => {
    const c = await connect();
    proxy.stall();
    c.socket.write('held');
    const late = await connect();
    late.socket.write('late');
    // Absence can only be observed over a window: nothing may arrive within it.
    await new Promise((r) => setTimeout(r, 400));
    expect(c.received()).toBe('');
    expect(late.received()).toBe('');
    expect(proxy.connections).toBe(2);
    proxy.resume();
    await until(() => c.received() === 'held' && late.received() === 'late', 5000, 'stalled data to flow');
    c.socket.destroy();
    late.socket.destroy();
  });

  it('cut() resets every connection and new ones until resume()', async () => {
    const c = await connect();
    proxy.cut();
    await c.closed;
    expect(proxy.connections).toBe(0);
    const refused = new Socket();
    refused.on('error', () => {});
    const refusedClosed = new Promise((r) => refused.once('close', r));
    refused.connect(proxy.port, '127.0.0.1');
    await refusedClosed;
    proxy.resume();
    const again = await connect();
    again.socket.write('back');
    await until(() => again.received() === 'back', 5000, 'echo after resume');
    again.socket.destroy();
  });
});
