// Packs pgcourier, installs the tarball into a fresh temp project, and runs a task
// from plain JavaScript and from TypeScript (type-checked with tsc) against a real
// Postgres. Also checks what the tarball contains.
//   npm run test:package
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../src/embedded.js';

const root = join(import.meta.dirname, '..');
const sh = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const dir = await mkdtemp(join(tmpdir(), 'pgcourier-smoke-'));
const server = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const url = process.env.DATABASE_URL ?? (server?.connectionString as string);
let failed = false;
try {
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dir], root)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0]?.files.map((f) => f.path) ?? [];
  const required = [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli.js',
    'dist/testing/index.js',
    'dist/messages/index.js',
    'dist/messages/index.d.ts',
    'dist/http/index.js',
    'dist/http/index.d.ts',
    'migrations/001_tasks.sql',
    'migrations/messages/020_messages.sql',
    'README.md',
    'CHANGELOG.md',
    'package.json',
  ];
  const missing = required.filter((f) => !files.includes(f));
  const unwanted = files.filter((f) => /^(test|bench|examples|src|scripts)\/|\.env|\.tgz$|\.map$|dashboard\/client/.test(f));
  if (missing.length || unwanted.length) throw new Error(`tarball contents wrong: missing ${missing.join(', ') || '-'}; unwanted ${unwanted.join(', ') || '-'}`);
  console.log(`tarball ok: ${files.length} files`);

  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'smoke', private: true, type: 'module' }));
  sh('npm', ['install', '--no-audit', '--no-fund', join(dir, packed[0]?.filename as string), 'typescript@5', '@types/node@20', 'zod@4'], dir);

  const js = `import { createCourier, defineTask } from 'pgcourier';
import { createTestClock } from 'pgcourier/testing';
import { messages } from 'pgcourier/messages';
import { createHttpHandler } from 'pgcourier/http';
const courier = createCourier({ connectionString: process.env.DATABASE_URL, schema: 'smoke_js', plugins: [messages()] });
courier.registerTask('add', async ({ a, b }) => a + b);
await courier.migrate();
const id = await courier.enqueueTask('add', { a: 2, b: 3 });
await courier.drain();
const task = await courier.getTask(id);
if (task.result !== 5 || typeof createTestClock !== 'function' || typeof defineTask !== 'function') { console.error(task); process.exit(1); }
const api = createHttpHandler(courier, { basePath: '/q', auth: { token: 'smoke-token-0123456789abcdef' } });
const res = await api(new Request('http://smoke.test/q/messages/status', { headers: { authorization: 'Bearer smoke-token-0123456789abcdef' } }));
const manual = await courier.messages.send({ channel: 'voice', to: '+15550001234', body: 'call' });
if (res.status !== 200 || !(await courier.messages.get(manual))) { console.error(res.status, await res.text()); process.exit(1); }
console.log('js ok', task.status, task.result, 'messages and http ok');
await courier.close();
`;
  const ts = `import { createCourier, defineTask, type TaskInfo } from 'pgcourier';
import { createHttpHandler, type CourierHttpHandler } from 'pgcourier/http';
import { messages, type MessageInfo } from 'pgcourier/messages';
import { z } from 'zod';
const add = defineTask({ name: 'add_ts', payload: z.object({ a: z.number(), b: z.number() }), handler: ({ a, b }) => a + b });
const courier = createCourier({ connectionString: process.env.DATABASE_URL, schema: 'smoke_ts', plugins: [messages()] });
courier.registerTask(add);
const api: CourierHttpHandler = createHttpHandler(courier, { auth: { token: 'smoke-token-0123456789abcdef' } });
await courier.migrate();
const id: string = await courier.enqueueTask(add, { a: 20, b: 22 });
// @ts-expect-error the payload type flows from the zod schema
void courier.enqueueTask(add, { a: 'x', b: 1 }).catch(() => {});
await courier.drain();
const task: TaskInfo | null = await courier.getTask(id);
if (task?.result !== 42) process.exit(1);
const id2: string = await courier.messages.send({ channel: 'in_person', to: 'front desk', body: 'parcel' });
const message: MessageInfo | null = await courier.messages.get(id2);
if (!message || message.channel !== 'in_person' || api.basePath !== '') process.exit(1);
console.log('ts ok', task.status, task.result, 'messages and http ok');
await courier.close();
`;
  await writeFile(join(dir, 'smoke.mjs'), js);
  await writeFile(join(dir, 'smoke.mts'), ts);
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out', types: ['node'] }, files: ['smoke.mts'] }),
  );
  const env = { ...process.env, DATABASE_URL: url };
  console.log(sh(process.execPath, ['smoke.mjs'], dir, env).trim());
  sh(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], dir);
  console.log(sh(process.execPath, [join('out', 'smoke.mjs')], dir, env).trim());
  console.log(sh(join(dir, 'node_modules', '.bin', 'pgcourier'), ['status'], dir, { ...env, PGCOURIER_SCHEMA: 'smoke_js' }).trim());
} catch (err) {
  failed = true;
  const e = err as { message: string; stdout?: string; stderr?: string };
  console.error(e.message, e.stdout ?? '', e.stderr ?? '');
} finally {
  await server?.destroy();
  await rm(dir, { recursive: true, force: true });
}
console.log(failed ? 'package smoke test: 0 passed, 1 failed' : 'package smoke test: 1 passed, 0 failed');
process.exit(failed ? 1 : 0);
