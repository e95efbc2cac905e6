// The package's entries, through the built package: `pgcourier` loads no file of
// messaging or HTTP and no nodemailer; `pgcourier/messages` and `pgcourier/http`
// load on demand, and messaging without SMTP still leaves nodemailer alone.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl, freshSchema } from './helpers/db.js';

const root = join(import.meta.dirname, '..');
let pkg: string;

/** A resolve hook that writes every resolved URL to TRACE_FILE, registered with --import. */
const hooks = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.TRACE_FILE, r.url + '\\n');
  return r;
}
`;

/** The URLs a fresh Node process resolves while running `code` inside the built package. */
function resolvedBy(code: string, env: Record<string, string> = {}): string[] {
  const trace = join(pkg, `trace-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(trace, '');
  const r = spawnSync(process.execPath, ['--import', './register.mjs', '--input-type=module', '-e', code], { cwd: pkg, env: { ...process.env, ...env, TRACE_FILE: trace }, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return readFileSync(trace, 'utf8').split('\n').filter(Boolean);
}

beforeAll(() => {
  // The package as npm would lay it out: package.json, dist/ and migrations/, built afresh,
  // with its dependencies but without the optional peer nodemailer (not installed).
  pkg = mkdtempSync(join(tmpdir(), 'pgcourier-entries-'));
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist'), '--declaration', 'false', '--sourceMap', 'false', '--declarationMap', 'false'], { cwd: root });
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(root, 'migrations'), join(pkg, 'migrations'));
  mkdirSync(join(pkg, 'node_modules'));
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry !== 'nodemailer') symlinkSync(join(root, 'node_modules', entry), join(pkg, 'node_modules', entry));
  }
  writeFileSync(join(pkg, 'hooks.mjs'), hooks);
  writeFileSync(join(pkg, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
}, 120_000);
afterAll(() => {
  if (pkg) rmSync(pkg, { recursive: true, force: true });
});

const ours = (urls: string[], folder: string) => urls.filter((u) => u.includes(`/dist/${folder}/`));
const nodemailer = (urls: string[]) => urls.filter((u) => u.includes('/node_modules/nodemailer/'));
const kysely = (urls: string[]) => urls.filter((u) => u.includes('/node_modules/kysely/'));

describe('entries of the built package', () => {
  it("import('pgcourier') loads no messaging, HTTP, nodemailer, Kysely or OpenTelemetry file", () => {
    const urls = resolvedBy("const m = await import('pgcourier'); if (typeof m.createCourier !== 'function') process.exit(3);");
    expect(urls.some((u) => u.endsWith('/dist/index.js'))).toBe(true);
    expect(ours(urls, 'messages')).toEqual([]);
    expect(ours(urls, 'http')).toEqual([]);
    expect(nodemailer(urls)).toEqual([]);
    expect(kysely(urls)).toEqual([]);
    // Loaded by a courier when installed, never by the import itself.
    expect(urls.filter((u) => u.includes('/@opentelemetry/'))).toEqual([]);
  });

  it('a courier with no logger, no daily schedule and no OpenTelemetry registered loads neither pino, cron-parser nor the OpenTelemetry API', () => {
    // cron-parser is CommonJS, loaded through require: it shows in the require cache, not in the resolve hook.
    const script = (cron: string, parserLoaded: boolean) =>
      "const { createCourier } = await import('pgcourier'); const c = createCourier({ connectionString: 'postgres://u@127.0.0.1:1/none' });" +
      `c.registerTask('noop', async () => {}); c.registerTask({ name: 'scheduled', cron: '${cron}', handler: async () => {} });` +
      "await new Promise((r) => setTimeout(r, 50)); await c.close();" +
      "const { createRequire } = await import('node:module');" +
      `if (Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/cron-parser/')) !== ${parserLoaded}) process.exit(4);`;
    const urls = resolvedBy(script('5 * * * *', false));
    expect(urls.filter((u) => /\/node_modules\/(pino|cron-parser|luxon|@opentelemetry)\//.test(u))).toEqual([]);
    // A schedule that is not hourly in UTC needs the parser.
    resolvedBy(script('0 9 * * *', true));
  });

  it('pgcourier/messages and pgcourier/http load; messaging without SMTP leaves nodemailer alone', () => {
    const urls = resolvedBy(
      "const { messages } = await import('pgcourier/messages'); const { createHttpHandler } = await import('pgcourier/http'); const { createCourier } = await import('pgcourier');" +
        "const c = createCourier({ connectionString: 'postgres://u@127.0.0.1:1/none', plugins: [messages({ providers: { twilio: { accountSid: 'AC0123456789', authToken: 'x'.repeat(32), from: '+15550001111' } } })] });" +
        "const api = createHttpHandler(c, { auth: { token: 'entries-test-token-0123456789' } });" +
        "if (typeof c.messages.send !== 'function' || !('/messages' in api.openapi().paths)) process.exit(3); await c.close();",
    );
    expect(ours(urls, 'messages').length).toBeGreaterThan(0);
    expect(ours(urls, 'http').length).toBeGreaterThan(0);
    expect(nodemailer(urls)).toEqual([]);
  });

  it('SMTP without nodemailer installed: the send waits as pending, its error naming the package to install', () => {
    const urls = resolvedBy(
      "const { createCourier } = await import('pgcourier'); const { messages } = await import('pgcourier/messages');" +
        "const c = createCourier({ connectionString: process.env.DATABASE_URL, schema: process.env.SCHEMA, plugins: [messages({ providers: { smtp: { host: '127.0.0.1', port: 1, from: 'a@example.test' } } })] });" +
        "await c.migrate(); const id = await c.messages.send({ channel: 'email', to: 'ana@example.test', subject: 'Hi', body: 'Hello' });" +
        "await c.runOnce({ limit: 1 }); const m = await c.messages.get(id); await c.close();" +
        "if (m.status !== 'pending' || m.error?.code !== 'nodemailer_missing' || !m.error.message.includes('npm install nodemailer')) { console.error(JSON.stringify(m)); process.exit(3); }",
      { DATABASE_URL: databaseUrl(), SCHEMA: freshSchema('nomail') },
    );
    expect(nodemailer(urls)).toEqual([]);
  });

  it('the tx adapters load no ORM or driver: import, an enqueue in a pg transaction and a refused object', () => {
    const urls = resolvedBy(
      "const { createCourier } = await import('pgcourier'); const pg = (await import('pg')).default;" +
        "const c = createCourier({ connectionString: process.env.DATABASE_URL, schema: process.env.SCHEMA }); c.registerTask('t', () => {}); await c.migrate();" +
        "const client = await c.pool.connect(); await client.query('BEGIN'); await c.enqueueTask('t', {}, { tx: client }); await client.query('COMMIT'); client.release();" +
        "const refused = await c.enqueueTask('t', {}, { tx: { raw() {}, $queryRawUnsafe: 1 } }).catch((e) => e); await c.close();" +
        "if (refused?.field !== 'tx') process.exit(3);",
      { DATABASE_URL: databaseUrl(), SCHEMA: freshSchema('noorm') },
    );
    expect(urls.some((u) => u.includes('/dist/db/tx/'))).toBe(true);
    const orms = /\/node_modules\/(drizzle-orm|knex|typeorm|sequelize|postgres|prisma|@prisma|@mikro-orm|reflect-metadata)\//;
    expect(urls.filter((u) => orms.test(u))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown> | undefined>;
    for (const deps of [manifest.dependencies, manifest.peerDependencies]) for (const name of Object.keys(deps ?? {})) expect(name).not.toMatch(/^(drizzle-orm|knex|typeorm|sequelize|postgres|prisma|@prisma\/.*|@mikro-orm\/.*)$/);
  });

  it('nodemailer and @opentelemetry/api are optional peer dependencies, not dependencies', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    expect(manifest.dependencies).not.toHaveProperty('nodemailer');
    expect(manifest.dependencies).not.toHaveProperty('@opentelemetry/api');
    expect(manifest.peerDependencies).toHaveProperty('nodemailer');
    expect(manifest.peerDependencies).toHaveProperty('@opentelemetry/api');
    expect(manifest.peerDependenciesMeta).toEqual({ '@opentelemetry/api': { optional: true }, nodemailer: { optional: true } });
    expect(Object.keys(manifest.exports ?? {})).toEqual(['.', './testing', './messages', './http', './package.json']);
  });
});
