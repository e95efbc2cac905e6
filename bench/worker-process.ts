// A consumer in its own process, driven by the parent over IPC:
//   node --import tsx bench/worker-process.ts <peer> <database-url> <concurrency> <jobs>
// It reports `ready`, starts consuming on `go`, sends `progress` every 50 ms and,
// on `stop`, its run counts and peak RSS.

import { loadPeer } from './peers/index.js';
import { Tracker } from './tracker.js';
import type { Consumer, PeerName } from './types.js';
import { PEER_NAMES } from './types.js';

export type ToChild = { type: 'go' } | { type: 'stop' };
export type FromChild =
  | { type: 'ready'; rss: number }
  | { type: 'progress'; finished: number; rss: number; heapUsed: number }
  | { type: 'result'; runs: Uint8Array; started: number; firstStart: number; lastEnd: number; baseRss: number; peakRss: number }
  | { type: 'error'; message: string };

const send = (message: FromChild) => process.send?.(message);

async function main(): Promise<void> {
  const [peerName, url, concurrency, jobs] = process.argv.slice(2);
  if (!PEER_NAMES.includes(peerName as PeerName) || !url) throw new Error(`usage: worker-process.ts <peer> <database-url> <concurrency> <jobs>`);
  const peer = await loadPeer(peerName as PeerName);
  const instance = await peer.open(url);
  const tracker = new Tracker(Number(jobs));
  const baseRss = process.memoryUsage.rss();
  let peakRss = baseRss;
  let consumer: Consumer | undefined;
  const timer = setInterval(() => {
    const { rss, heapUsed } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    if (consumer) send({ type: 'progress', finished: tracker.finished, rss, heapUsed });
  }, 50);
  process.on('message', async (message: ToChild) => {
    try {
      if (message.type === 'go') {
        consumer = await instance.startConsumer({ concurrency: Number(concurrency), handler: tracker.handler() });
      } else if (message.type === 'stop') {
        await consumer?.stop();
        clearInterval(timer);
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
        // The run counts can be a megabyte: let them leave before the channel closes.
        await new Promise<void>((resolve) =>
          process.send?.({ type: 'result', runs: tracker.runs, started: tracker.started, firstStart: tracker.firstStart, lastEnd: tracker.lastEnd, baseRss, peakRss } satisfies FromChild, () => resolve()),
        );
        await instance.close();
        process.disconnect();
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  });
  send({ type: 'ready', rss: baseRss });
}

main().catch((err) => {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  process.exitCode = 1;
  process.disconnect?.();
});
