// Runs the real CLI: migrate, enqueue two tasks, start a worker process on the tasks
// module, wait until both succeeded, stop it with SIGTERM.
//   node --import tsx examples/run.ts cli-worker/run
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const cli = [process.execPath, '--import', 'tsx', join(root, 'src', 'cli.ts')] as const;
const tasks = join(import.meta.dirname, 'tasks.ts');
const run = (...args: string[]) => {
  const r = spawnSync(cli[0], [...cli.slice(1), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
};

console.log(run('migrate'));
const ids = [
  run('enqueue', 'resize_image', '{"url":"https://example.com/a.png","width":200}', '--tasks', tasks),
  run('enqueue', 'send_email', '{"to":"ops@example.com"}', '--tasks', tasks),
];
console.log(`enqueued ${ids.join(', ')}`);
const worker = spawn(cli[0], [...cli.slice(1), 'worker', '--tasks', tasks, '--concurrency', '4', '--queues', 'media,email'], { stdio: 'inherit' });
for (let i = 0; i < 100; i++) {
  const status = JSON.parse(run('status', '--json')) as { total: { succeeded: number } };
  if (status.total.succeeded >= 2) break;
  await new Promise((r) => setTimeout(r, 200));
}
console.log(run('status'));
worker.kill('SIGTERM');
const code = await new Promise((resolve) => worker.on('exit', resolve));
console.log(`worker exited with ${code}`);
process.exit(code === 0 ? 0 : 1);
