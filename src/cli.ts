#!/usr/bin/env node
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { type Courier, createCourier } from './courier.js';
import { defaultRegistry } from './default.js';
import { CourierError } from './errors.js';
import type { CourierPlugin } from './plugins.js';
import { type TaskDefinition, TaskRegistry } from './registry.js';
import type { CleanupOptions } from './scheduler/cleanup.js';

const HELP: Record<string, string> = {
  '': `Usage: pgcourier <command> [options]

Commands:
  migrate                      create or upgrade the schema
  worker                       run a worker until SIGTERM/SIGINT
  run-once                     run due tasks inline, then exit
  enqueue <task> <json>        enqueue one task
  promote <id>                 run a delayed or retrying task now
  delete <id>                  delete a finished or cancelled task
  status                       counts per queue and status
  workers                      live and recently dead worker processes
  cleanup                      delete old finished tasks
  redrive                      move dead-lettered tasks back to their queue
  schedules [pause|resume|remove NAME]   list or change cron schedules
  doctor                       schema drift, bloat, vacuum horizon, NOTIFY queue, stuck leases
  demo                         run the demo on embedded Postgres

Common options:
  --database-url URL           (env DATABASE_URL; may name several hosts: h1:5432,h2:5432)
  --listen-database-url URL    direct connection for LISTEN when DATABASE_URL goes through a
                               transaction-mode pooler
  --read-database-url URL      replica for status and metrics reads
  --prepared-statements false  no named prepared statements (PgBouncer transaction mode)
  --schema NAME                (env PGCOURIER_SCHEMA, default pgcourier)
  --help                       help for a command`,
  migrate: `Usage: pgcourier migrate [--database-url URL] [--schema NAME] [--tasks FILE]
  With --tasks, the plugins the modules export as \`plugins\` are migrated too.`,
  worker: `Usage: pgcourier worker --tasks FILE [--tasks FILE…] [options]
  --tasks FILE          module exporting task definitions (or register(courier)),
                        and optionally \`plugins\` (e.g. [messages({ providers })])
  --concurrency N       handlers at once (default 10)
  --queues a,b          queues to serve (default all)
  --poll-interval S     fallback poll, seconds (default 2)
  --lease S             lease, seconds (default 30)
  --grace S             shutdown grace, seconds (default 30)
  --wait-for-db S       wait up to S seconds for Postgres to come up, with backoff (default 60; 0 fails at once)
  --log-level LEVEL     pino level (default info)`,
  'run-once': `Usage: pgcourier run-once --tasks FILE [--limit N] [--concurrency N]`,
  enqueue: `Usage: pgcourier enqueue <task> <json> [--priority N] [--run-at ISO | --delay S] [--queue Q] [--key K] [--tasks FILE]
  --tasks FILE          module exporting task definitions (handlers not needed): the name,
                        payload and options are validated against them
  Without --tasks the payload is stored unvalidated.`,
  promote: 'Usage: pgcourier promote <id>   (a queued task that waits for its run time runs now)',
  delete: 'Usage: pgcourier delete <id>    (only succeeded, failed or cancelled tasks)',
  status: 'Usage: pgcourier status [--json]',
  workers: 'Usage: pgcourier workers [--json]',
  cleanup: `Usage: pgcourier cleanup [--older-than 7d] [--status succeeded,failed,cancelled] [--batch-size N]
  --older-than D        retention: seconds, or a number with s, m, h or d (default 7d)`,
  schedules: 'Usage: pgcourier schedules [--json] | schedules pause|resume|remove <name>',
  redrive: `Usage: pgcourier redrive [--dead-letter Q] [--queue Q] [--name TASK] [--id ID…] [--limit N]
  Moves dead-lettered tasks back to the queue they came from (attempts reset).
  --dead-letter Q       only tasks in this dead-letter queue
  --queue Q             only tasks that came from this queue
  --id ID               only this task (repeatable); without any filter, all of them`,
  doctor: 'Usage: pgcourier doctor [--json]   (exit 1 when a check fails)',
  demo: 'Usage: pgcourier demo [--tasks-count N]',
};

const common = {
  'database-url': { type: 'string' },
  'listen-database-url': { type: 'string' },
  'read-database-url': { type: 'string' },
  'prepared-statements': { type: 'string' },
  schema: { type: 'string' },
  help: { type: 'boolean' },
  tasks: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
} as const;

const commandOptions = {
  migrate: {},
  worker: {
    concurrency: { type: 'string' },
    queues: { type: 'string' },
    'poll-interval': { type: 'string' },
    lease: { type: 'string' },
    grace: { type: 'string' },
    'wait-for-db': { type: 'string' },
  },
  'run-once': { limit: { type: 'string' }, concurrency: { type: 'string' } },
  enqueue: { priority: { type: 'string' }, 'run-at': { type: 'string' }, delay: { type: 'string' }, queue: { type: 'string' }, key: { type: 'string' } },
  promote: {},
  delete: {},
  status: { json: { type: 'boolean' } },
  workers: { json: { type: 'boolean' } },
  cleanup: { 'older-than': { type: 'string' }, status: { type: 'string' }, 'batch-size': { type: 'string' } },
  schedules: { json: { type: 'boolean' } },
  redrive: { 'dead-letter': { type: 'string' }, queue: { type: 'string' }, name: { type: 'string' }, id: { type: 'string', multiple: true }, limit: { type: 'string' } },
  doctor: { json: { type: 'boolean' } },
  demo: { 'tasks-count': { type: 'string' } },
} as const;

type Command = keyof typeof commandOptions;

class UsageError extends Error {}

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got "${value.slice(0, 40)}"`);
  return n;
}

function flag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') throw new UsageError(`--${name} must be true or false, got "${value.slice(0, 40)}"`);
  return value === 'true';
}

/** Imports the task modules given with `--tasks`. */
async function importTaskModules(files: string[]): Promise<Record<string, unknown>[]> {
  const mods: Record<string, unknown>[] = [];
  for (const file of files) mods.push((await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>);
  return mods;
}

/** The plugins task modules export as `plugins` (e.g. `export const plugins = [messages({ providers })]`). */
function pluginsOf(mods: Record<string, unknown>[]): CourierPlugin<string, unknown>[] {
  return mods.flatMap((mod) => (Array.isArray(mod.plugins) ? (mod.plugins as CourierPlugin<string, unknown>[]) : []));
}

/** Registers every task definition the modules export (or calls their `register(courier)`). */
async function registerTaskModules(courier: Courier, mods: Record<string, unknown>[]): Promise<void> {
  for (const mod of mods) {
    for (const value of Object.values(mod)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (isDefinition(item) && courier.registry.get(item.name) !== item) courier.registerTask(item);
      }
    }
    if (typeof mod.register === 'function') await (mod.register as (c: Courier) => unknown)(courier);
  }
}

function isDefinition(v: unknown): v is TaskDefinition {
  return typeof v === 'object' && v !== null && typeof (v as TaskDefinition).name === 'string' && typeof (v as TaskDefinition).handler === 'function';
}

async function main(argv: string[]): Promise<number> {
  const [commandArg, ...rest] = argv;
  if (!commandArg || commandArg === '--help' || commandArg === '-h' || commandArg === 'help') {
    console.log(HELP['']);
    return commandArg ? 0 : 2;
  }
  if (!(commandArg in commandOptions)) throw new UsageError(`unknown command "${commandArg.slice(0, 40)}"; see pgcourier --help`);
  const command = commandArg as Command;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...common, ...commandOptions[command] },
    allowPositionals: command === 'enqueue' || command === 'schedules' || command === 'promote' || command === 'delete',
    strict: true,
  }).valueOf() as { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  if (values.help) {
    console.log(HELP[command]);
    return 0;
  }
  if (command === 'demo') {
    const { runDemo } = await import('./demo.js');
    await runDemo({ tasks: number(values['tasks-count'] as string | undefined, 'tasks-count') ?? 300 });
    return 0;
  }
  const level = (values['log-level'] as string | undefined) ?? (command === 'worker' ? 'info' : 'warn');
  const logger = pino({ level }, pino.destination(2));
  const mods = await importTaskModules((values.tasks as string[] | undefined) ?? []);
  const courier = createCourier({
    connectionString: (values['database-url'] as string | undefined) ?? process.env.DATABASE_URL,
    schema: (values.schema as string | undefined) ?? process.env.PGCOURIER_SCHEMA,
    registry: command === 'enqueue' && !values.tasks ? new TaskRegistry() : defaultRegistry,
    logger,
    plugins: pluginsOf(mods),
    listenConnectionString: values['listen-database-url'] as string | undefined,
    readConnectionString: values['read-database-url'] as string | undefined,
    preparedStatements: flag(values['prepared-statements'] as string | undefined, 'prepared-statements'),
  });
  try {
    await registerTaskModules(courier, mods);
    switch (command) {
      case 'migrate': {
        const applied = await courier.migrate();
        console.log(applied.length ? `applied migrations ${applied.join(', ')}` : 'schema is up to date');
        return 0;
      }
      case 'worker': {
        if (!values.tasks) throw new UsageError('worker needs --tasks FILE exporting at least one task');
        const grace = number(values.grace as string | undefined, 'grace') ?? 30;
        await courier.start({
          concurrency: number(values.concurrency as string | undefined, 'concurrency') ?? 10,
          queues: (values.queues as string | undefined)?.split(',').filter(Boolean),
          pollInterval: number(values['poll-interval'] as string | undefined, 'poll-interval') ?? 2,
          lease: number(values.lease as string | undefined, 'lease') ?? 30,
          waitForDatabase: number(values['wait-for-db'] as string | undefined, 'wait-for-db') ?? 60,
        });
        logger.info({ workerId: courier.workerId, tasks: courier.registry.names() }, 'worker started');
        await new Promise<void>((done) => {
          const stop = () => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            logger.info('stopping');
            void courier.stop({ grace }).then(done);
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        return 0;
      }
      case 'run-once': {
        const ran = await courier.runOnce({
          limit: number(values.limit as string | undefined, 'limit') ?? 100,
          concurrency: number(values.concurrency as string | undefined, 'concurrency') ?? 1,
        });
        console.log(`ran ${ran} task${ran === 1 ? '' : 's'}`);
        return 0;
      }
      case 'enqueue': {
        const [name, json] = positionals;
        if (!name || positionals.length > 2) throw new UsageError('enqueue takes <task> <json>');
        let payload: unknown = {};
        if (json !== undefined) {
          try {
            payload = JSON.parse(json);
          } catch {
            throw new UsageError('<json> is not valid JSON');
          }
        }
        if (!values.tasks && !courier.registry.get(name)) courier.registerTask(name, () => {});
        const id = await courier.enqueueTask(name, payload, {
          priority: number(values.priority as string | undefined, 'priority'),
          runAt: values['run-at'] as string | undefined,
          delay: number(values.delay as string | undefined, 'delay'),
          queue: values.queue as string | undefined,
          key: values.key as string | undefined,
        });
        console.log(id);
        return 0;
      }
      case 'promote':
      case 'delete': {
        const [id] = positionals;
        if (!id || positionals.length > 1) throw new UsageError(`${command} takes one task id`);
        if (command === 'promote') await courier.promote(id);
        else await courier.deleteTask(id);
        console.log(`${command === 'promote' ? 'promoted' : 'deleted'} task ${id}`);
        return 0;
      }
      case 'workers': {
        const workers = await courier.workers();
        if (values.json) console.log(JSON.stringify(workers, null, 2));
        else printTable(['id', 'state', 'host', 'pid', 'queues', 'running', 'last heartbeat'], workers.map((w) => [w.id, w.state, w.host, String(w.pid), w.queues?.join(',') ?? '*', `${w.running}/${w.concurrency}`, w.lastHeartbeat.toISOString()]));
        return 0;
      }
      case 'cleanup': {
        const statuses = (values.status as string | undefined)?.split(',').filter(Boolean) as CleanupOptions['statuses'];
        const tty = process.stderr.isTTY;
        const deleted = await courier.cleanup({
          olderThan: duration(values['older-than'] as string | undefined, 'older-than') ?? 7 * 86_400,
          statuses,
          batchSize: number(values['batch-size'] as string | undefined, 'batch-size'),
          onProgress: tty ? (n) => process.stderr.write(`\rdeleted ${n}`) : undefined,
        });
        if (tty) process.stderr.write('\n');
        console.log(`deleted ${deleted} finished task${deleted === 1 ? '' : 's'}`);
        return 0;
      }
      case 'redrive': {
        const ids = values.id as string[] | undefined;
        const moved = await courier.redrive({
          ...(ids ? { ids } : {}),
          ...(values['dead-letter'] ? { deadLetter: values['dead-letter'] as string } : {}),
          ...(values.queue ? { queue: values.queue as string } : {}),
          ...(values.name ? { name: values.name as string } : {}),
          ...(values.limit ? { limit: number(values.limit as string, 'limit') } : {}),
        });
        console.log(`moved ${moved} task${moved === 1 ? '' : 's'} back to their queue`);
        return 0;
      }
      case 'schedules': {
        const [action, name] = positionals;
        if (action) {
          if (!name || positionals.length > 2 || !['pause', 'resume', 'remove'].includes(action)) throw new UsageError('schedules takes no arguments, or pause|resume|remove <name>');
          const found = action === 'remove' ? await courier.removeSchedule(name) : await courier[action === 'pause' ? 'pauseSchedule' : 'resumeSchedule'](name);
          if (!found) throw new UsageError(`no schedule named "${name.slice(0, 100)}"`);
          console.log(`${action}d ${name}`);
          return 0;
        }
        const schedules = await courier.listSchedules();
        if (values.json) console.log(JSON.stringify(schedules, null, 2));
        else printTable(['name', 'cron', 'timezone', 'task', 'paused', 'next run'], schedules.map((s) => [s.name, s.cron, s.timezone, s.task, String(s.paused), s.nextRunAt.toISOString()]));
        return 0;
      }
      case 'doctor': {
        const checks = await courier.doctor();
        if (values.json) console.log(JSON.stringify(checks, null, 2));
        else printTable(['check', 'level', 'detail'], checks.map((c) => [c.name, c.level, c.detail]));
        return checks.some((c) => c.level === 'fail') ? 1 : 0;
      }
      case 'status': {
        const status = await courier.queueStatus();
        if (values.json) console.log(JSON.stringify(status, null, 2));
        else printStatus(status);
        return 0;
      }
    }
  } finally {
    await courier.close({ grace: 0 });
  }
  return 0;
}

function printStatus(status: Awaited<ReturnType<Courier['queueStatus']>>): void {
  const cols = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'waiting', 'total', 'last24h'] as const;
  const rows = [...Object.entries(status.queues), ['(all)', status.total] as const];
  printTable(['queue', ...cols], rows.map(([q, c]) => [q, ...cols.map((k) => String(c[k]))]));
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

/** Seconds from "90", "90s", "15m", "12h" or "7d". */
function duration(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(value.trim());
  if (!m) throw new UsageError(`--${flag} must be seconds or a number with s, m, h or d (e.g. 7d), got "${value.slice(0, 40)}"`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A stopped worker exits even if a task module left handles open (pools, timers).
    if (process.argv[2] === 'worker' || process.argv[2] === 'run-once') setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    const known = err instanceof UsageError || err instanceof CourierError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`pgcourier: ${known ? (err as Error).message : `${(err as Error).name ?? 'Error'}: ${(err as Error).message ?? String(err)}`}`);
    process.exitCode = known ? 2 : 1;
  },
);
