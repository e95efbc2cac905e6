import { formatValue, median } from './stats.js';
import type { Peer } from './types.js';
import type { Measurement } from './workloads/workload.js';

/** One measurement as the results file keeps it. */
export interface RawRow extends Measurement {
  workload: string;
  peer: string;
  round: number;
}

/** A table row: the median per peer and pgcourier's ratios. */
export interface TableRow {
  workload: string;
  row: string;
  unit: string;
  better: Measurement['better'];
  medians: Record<string, number>;
  rounds: Record<string, number>;
  errors: Record<string, string[]>;
  bestPeer: string | null;
  /** pgcourier ÷ best peer. */
  vsBest: number;
  /** pgcourier ÷ raw-sql (throughput rows only). */
  vsRaw: number;
}

/**
 * Medians per row and peer. The best peer is the best competing Postgres queue
 * (not pgcourier, not the raw-SQL reference, not BullMQ on Redis).
 */
export function aggregate(raw: RawRow[], peers: Peer[]): TableRow[] {
  const rows = new Map<string, TableRow>();
  const values = new Map<string, Map<string, number[]>>();
  for (const r of raw) {
    let row = rows.get(r.row);
    if (!row) {
      row = { workload: r.workload, row: r.row, unit: r.unit, better: r.better, medians: {}, rounds: {}, errors: {}, bestPeer: null, vsBest: Number.NaN, vsRaw: Number.NaN };
      rows.set(r.row, row);
      values.set(r.row, new Map());
    }
    const perPeer = values.get(r.row) as Map<string, number[]>;
    const list = perPeer.get(r.peer) ?? [];
    list.push(r.value);
    perPeer.set(r.peer, list);
    if (r.error) (row.errors[r.peer] ??= []).push(`round ${r.round}: ${r.error}`);
  }
  const rivals = peers.filter((p) => !p.reference && p.name !== 'pgcourier' && p.name !== 'bullmq-redis').map((p) => p.name as string);
  for (const row of rows.values()) {
    for (const [peer, list] of values.get(row.row) ?? []) {
      row.medians[peer] = median(list);
      row.rounds[peer] = list.length;
    }
    if (row.better === 'info') continue;
    const sign = row.better === 'higher' ? 1 : -1;
    for (const peer of rivals) {
      const v = row.medians[peer];
      if (v === undefined || !Number.isFinite(v) || row.errors[peer]) continue;
      const best = row.bestPeer === null ? undefined : row.medians[row.bestPeer];
      if (best === undefined || sign * v > sign * best) row.bestPeer = peer;
    }
    const ours = row.medians.pgcourier ?? Number.NaN;
    if (row.bestPeer) row.vsBest = ours / (row.medians[row.bestPeer] as number);
    if (row.better === 'higher' && row.unit === 'jobs/s' && row.medians['raw-sql'] !== undefined) row.vsRaw = ours / (row.medians['raw-sql'] as number);
  }
  return [...rows.values()];
}

/** The table as Markdown, ready to paste into docs/benchmarks.md. */
export function markdownTable(rows: TableRow[], peers: Peer[]): string {
  const names = peers.map((p) => p.name);
  const head = ['workload', 'unit', ...names, 'best peer', 'pgcourier ÷ best peer', 'pgcourier ÷ raw-sql'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  const notes: string[] = [];
  for (const row of rows) {
    const arrow = row.better === 'higher' ? ' ↑' : row.better === 'lower' ? ' ↓' : '';
    const cells = names.map((name) => {
      const v = row.medians[name];
      if (v === undefined) {
        const peer = peers.find((p) => p.name === name);
        if (row.workload === 'history' && peer && !peer.keepsHistory) return 'no history';
        if (row.workload === 'drain_result1k' && peer && !peer.keepsResults) return 'no result';
        return 'n/a';
      }
      const errs = row.errors[name];
      if (errs) notes.push(`${name}, ${row.row}: ${errs.join('; ')}`);
      return `${formatValue(v)}${errs ? ' ✗' : ''}`;
    });
    const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
    lines.push(`| ${row.row} | ${row.unit}${arrow} | ${cells.join(' | ')} | ${row.bestPeer ?? '–'} | ${ratio(row.vsBest)} | ${ratio(row.vsRaw)} |`);
  }
  if (notes.length) lines.push('', '✗ a check failed in at least one round:', ...notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

const PROFILED = ['drain_noop c=10', 'drain_payload1k c=10', 'drain_result1k c=10'];

/** Statements per job of each peer's drain_noop c=10 and its 1 KB variants (last round), the most frequent first. */
export function profileText(profiles: Array<{ peer: string; row: string; round: number; jobs: number; statements: Array<{ query: string; calls: number; rows: number; ms: number }> }>): string {
  const last = new Map<string, (typeof profiles)[number]>();
  for (const p of profiles) if (PROFILED.includes(p.row)) last.set(`${p.row}\u0000${p.peer}`, p);
  const out: string[] = [];
  for (const p of last.values()) {
    out.push(`${p.peer} — ${p.row}, ${p.jobs.toLocaleString('en-US')} jobs (round ${p.round}): calls/job, rows/call, ms/call, statement`);
    for (const s of p.statements.slice(0, 6)) {
      const text = s.query.replace(/\s+/g, ' ').slice(0, 100);
      out.push(`  ${(s.calls / p.jobs).toFixed(3).padStart(7)} ${(s.rows / s.calls).toFixed(1).padStart(7)} ${(s.ms / s.calls).toFixed(3).padStart(8)}  ${text}`);
    }
  }
  return out.join('\n');
}
