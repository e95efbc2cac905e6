/**
 * The dashboard's client script, run in the browser (no dependencies). A hash
 * router (`#/`, `#/tasks?…`, `#/tasks/ID`, `#/workflows/ID`, `#/workers`,
 * `#/schedules`, `#/messages`) shows one view at a time and refreshes it with the token kept
 * in sessionStorage (or the host's cookie). Everything is rendered with
 * `textContent` (task errors and payloads are untrusted text).
 *
 * It is type-checked against the DOM (src/http/dashboard/tsconfig.json), linted
 * like the rest of src/, and compiled into `script.ts` as a string by
 * `scripts/build-dashboard.ts` (part of `npm run build`), which the page inlines.
 */

/** A task as lists show it (no payload, no result). */
interface TaskSummary {
  id: string;
  name: string;
  queue: string;
  status: string;
  priority: number;
  attempts: number;
  maxRetries: number;
  runAt: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  lastError: string | null;
  key: string | null;
  progress: { current: number; total: number | null } | null;
  errors: { attempt: number; message: string }[];
  /** Lists and the detail only (not the overview's summaries). */
  workflowId?: string | null;
  step?: string | null;
  deadFrom?: string | null;
}

/** One attempt of `GET /tasks/{id}`. */
interface Attempt {
  attempt: number;
  outcome: string;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  worker: string | null;
  error: { message: string; stack?: string } | null;
}

/** `GET /tasks/{id}`. */
interface TaskDetail extends TaskSummary {
  payload: unknown;
  result: unknown;
  updatedAt: string;
  worker: string | null;
  attemptTimeline: Attempt[];
  retryPolicy: { maxRetries: number; retryDelay: number; backoff: string | null; maxDelay: number | null; timeout: number | null };
}

/** Counts of one queue. */
interface Counts {
  waiting: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  last24h: number;
  oldestQueuedAt: string | null;
}

interface QueueSettings {
  name: string;
  paused: boolean;
  concurrency: number | null;
  rateLimit: { limit: number; per: number } | null;
  groupConcurrency: { default: number | null; tiers: Record<string, number> } | null;
  groupRateLimit: { limit: number; per: number } | null;
  fair: boolean | null;
  deadLetter: string | null;
}

/** One step of `GET /workflows/{id}`. */
interface WorkflowStep {
  taskId: string;
  step: string | null;
  name: string;
  status: string;
  dependsOn: string[];
  pendingParents: number;
  attempts: number;
  lastError: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** `GET /workflows/{id}`. */
interface Workflow {
  id: string;
  kind: 'workflow' | 'batch';
  name: string | null;
  status: string;
  progress: Record<string, number>;
  createdAt: string;
  steps: WorkflowStep[];
}

interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  payload: unknown;
  paused: boolean;
  nextRunAt: string | null;
  lastRunAt: string | null;
}

interface Batch {
  id: string;
  name: string | null;
  channel: string;
  total: number;
  completed: number;
  failed: number;
  active: number;
  progress: number;
  createdAt?: string;
}

/** The body of `GET /overview` as the page reads it. */
interface Overview {
  now: string;
  refresh: number;
  status: { queues: Record<string, Counts>; total: Counts };
  queues: QueueSettings[];
  running: TaskSummary[];
  failed: TaskSummary[];
  retrying: TaskSummary[];
  schedules: Schedule[];
  batches: Batch[] | null;
  messages: { channels: Record<string, Record<string, number>> } | null;
  features: { pause: boolean; schedules: boolean; messages: boolean; batches: boolean };
}

interface Series {
  succeeded: number[];
  failed: number[];
}

/** `GET /history`. */
interface History {
  start: string;
  step: number;
  total: Series;
  queues: Record<string, Series>;
}

interface Worker {
  id: string;
  host: string;
  pid: number;
  queues: string[] | null;
  concurrency: number;
  version: string;
  running: number;
  startedAt: string;
  lastHeartbeat: string;
  state: 'alive' | 'stopped' | 'dead';
}

/** An API error with its HTTP status. */
interface ApiError extends Error {
  status?: number;
}

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

(() => {
  const doc = document;
  const base = doc.body.getAttribute('data-base') || '';
  let refresh = Math.max(200, Number(doc.body.getAttribute('data-refresh')) * 1000 || 2000);
  const KEY = `pgcourier.token:${base}`;
  let token = '';
  try {
    token = sessionStorage.getItem(KEY) || '';
  } catch {
    token = '';
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let toastTimer: ReturnType<typeof setTimeout> | undefined;
  /** Each load has a number; only the newest one schedules the next refresh. */
  let generation = 0;
  let signedOut = false;
  let history: History | null = null;
  let historyAt = 0;
  const STATUSES = ['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
  const FINISHED = ['succeeded', 'failed', 'cancelled'];
  const COLORS: Record<string, string> = {
    waiting: 'var(--cancelled)',
    queued: 'var(--queued)',
    delayed: 'var(--age)',
    retrying: 'var(--running)',
    running: 'var(--running)',
    succeeded: 'var(--succeeded)',
    failed: 'var(--failed)',
    cancelled: 'var(--cancelled)',
  };

  function $<T extends HTMLElement = HTMLElement>(id: string): T {
    return doc.getElementById(id) as T;
  }

  function el(tag: string, attrs?: Attrs | null, children?: Child[]): HTMLElement {
    const node = doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs ?? {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k === 'className') node.className = String(v);
      else if (k === 'style') node.style.cssText = String(v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children ?? []) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    }
    return node;
  }

  function clear(container: Element): void {
    while (container.firstChild) container.removeChild(container.firstChild);
  }

  function replace(container: HTMLElement, nodes: Node[], emptyText: string, columns = 0): void {
    clear(container);
    if (nodes.length === 0 && emptyText) {
      container.appendChild(columns ? el('tr', null, [el('td', { colspan: columns, className: 'empty', text: emptyText })]) : el('p', { className: 'empty', text: emptyText }));
    }
    for (const n of nodes) container.appendChild(n);
  }

  async function api<T>(path: string, method = 'GET', body?: unknown): Promise<T | null> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, credentials: 'same-origin', cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 204) return null;
    const parsed = (await res.json().catch(() => null)) as (T & { detail?: string }) | null;
    if (!res.ok) {
      const err: ApiError = new Error(parsed?.detail || res.statusText || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return parsed;
  }

  function num(n: unknown): string {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
  }

  function age(ms: number): string {
    if (!(ms >= 0)) return '–';
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${m % 60}m`;
    return `${Math.floor(h / 24)}d`;
  }

  function since(now: number, iso: string | null): string {
    return iso ? age(now - Date.parse(iso)) : '–';
  }

  function stamp(iso: string | null): string {
    if (!iso) return '–';
    const d = new Date(iso);
    return `${d.toLocaleDateString('en-CA')} ${d.toLocaleTimeString('en-GB')}`;
  }

  function duration(ms: number | null): string {
    if (ms === null) return '–';
    return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(2)} s` : age(ms);
  }

  function setConn(state: string, text: string): void {
    $('conn').className = `conn ${state}`;
    $('conn-text').textContent = text;
  }

  function toast(text: string): void {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      t.hidden = true;
    }, 5000);
  }

  function showAuth(message: string): void {
    signedOut = true;
    $('auth').hidden = false;
    $('forget').hidden = true;
    $('auth-msg').textContent = message || '';
    setConn('error', 'not signed in');
  }

  function failed(err: ApiError): void {
    if (err.status === 401 || err.status === 403) showAuth(err.message);
    else toast(err.message);
  }

  function act(target: HTMLButtonElement, path: string, method = 'POST'): void {
    target.disabled = true;
    api(path, method).then(
      () => load(),
      (err: ApiError) => {
        target.disabled = false;
        failed(err);
      },
    );
  }

  function button(label: string, cls: string, path: string, testid: string, method = 'POST'): HTMLButtonElement {
    const b = el('button', { type: 'button', className: cls, text: label, 'data-testid': testid }) as HTMLButtonElement;
    b.addEventListener('click', () => act(b, path, method));
    return b;
  }

  function badge(text: string, color?: string): HTMLElement {
    return el('span', { className: 'badge', style: `--c:${color ?? COLORS[text] ?? 'var(--muted)'}`, text });
  }

  function taskLink(t: { id: string; name: string }): HTMLElement {
    return el('a', { href: `#/tasks/${t.id}`, className: 'name', text: t.name, 'data-testid': 'task-link' });
  }

  /** A progress bar; `parts` are [fraction, colour] segments laid side by side. */
  function bar(parts: [number, string | null][], indeterminate: boolean, label?: string): HTMLElement {
    const total = parts.reduce((a, [f]) => a + f, 0);
    const spans = parts.map(([f, color]) => {
      const span = el('span');
      if (!indeterminate) span.style.width = `${Math.max(0, Math.min(100, f * 100)).toFixed(1)}%`;
      if (color) span.style.background = color;
      return span;
    });
    return el('div', { className: indeterminate ? 'bar indeterminate' : 'bar', role: 'progressbar', 'aria-label': label, 'aria-valuenow': indeterminate ? null : Math.round(total * 100), 'aria-valuemin': 0, 'aria-valuemax': 100 }, spans);
  }

  /** A confirmation in a modal dialog (keyboard: Enter confirms, Escape cancels). */
  function confirmDialog(text: string): Promise<boolean> {
    const dialog = $<HTMLDialogElement>('confirm');
    $('confirm-text').textContent = text;
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        $('confirm-ok').removeEventListener('click', yes);
        $('confirm-cancel').removeEventListener('click', no);
        dialog.removeEventListener('cancel', no);
        if (dialog.open) dialog.close();
        resolve(ok);
      };
      const yes = () => done(true);
      const no = () => done(false);
      $('confirm-ok').addEventListener('click', yes);
      $('confirm-cancel').addEventListener('click', no);
      dialog.addEventListener('cancel', no);
      dialog.showModal();
      $('confirm-ok').focus();
    });
  }

  // ------------------------------------------------------------------ router

  interface Route {
    view: string;
    id?: string;
    /** A bulk send shown in the messages view (`#/batches/ID`). */
    batch?: string;
    params: URLSearchParams;
  }

  function route(): Route {
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path = '/', query = ''] = hash.split('?');
    const params = new URLSearchParams(query);
    const parts = path.split('/').filter(Boolean);
    if (parts[0] === 'tasks' && parts[1]) return { view: 'task', id: parts[1], params };
    if (parts[0] === 'tasks') return { view: 'tasks', params };
    if (parts[0] === 'workflows' && parts[1]) return { view: 'workflow', id: parts[1], params };
    if (parts[0] === 'workers' || parts[0] === 'schedules') return { view: parts[0], params };
    if (parts[0] === 'messages') return { view: 'messages', id: parts[1], params };
    if (parts[0] === 'batches') return { view: 'messages', batch: parts[1], params };
    return { view: 'overview', params };
  }

  function showView(view: string): void {
    for (const panel of doc.querySelectorAll<HTMLElement>('[data-view-panel]')) panel.hidden = panel.getAttribute('data-view-panel') !== view;
    const tab = view === 'task' || view === 'workflow' ? 'tasks' : view;
    for (const a of doc.querySelectorAll<HTMLElement>('nav.tabs a')) {
      if (a.getAttribute('data-view') === tab) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  // ---------------------------------------------------------------- overview

  function renderCounts(o: Overview): void {
    const total = o.status.total;
    for (const s of STATUSES) {
      const node = doc.querySelector(`[data-testid="count-${s}"]`);
      if (node) node.textContent = num(total[s]);
    }
    const oldest = doc.querySelector('[data-testid="oldest-age"]');
    if (oldest) oldest.textContent = total.oldestQueuedAt ? since(Date.parse(o.now), total.oldestQueuedAt) : '–';
  }

  function niceMax(v: number): number {
    const p = 10 ** Math.floor(Math.log10(v));
    const n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }

  const NS = 'http://www.w3.org/2000/svg';

  function svgEl(tag: string, attrs: Record<string, string>): SVGElement {
    const node = doc.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  function points(values: number[], max: number, w: number, h: number): string {
    const step = values.length > 1 ? w / (values.length - 1) : w;
    return values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / max) * (h - 4)).toFixed(1)}`).join(' ');
  }

  function renderChart(): void {
    const svg = $('chart');
    clear(svg);
    const W = 600;
    const H = 110;
    for (const f of [0.25, 0.5, 0.75]) svg.appendChild(svgEl('line', { x1: '0', x2: String(W), y1: String(H * f), y2: String(H * f), class: 'grid-line' }));
    if (!history) return;
    const ok = history.total.succeeded;
    const bad = history.total.failed;
    const max = niceMax(Math.max(1, ...ok, ...bad));
    const line = points(ok, max, W, H);
    svg.appendChild(svgEl('polygon', { points: `0,${H} ${line} ${W},${H}`, class: 'area' }));
    svg.appendChild(svgEl('polyline', { points: line, class: 'line' }));
    svg.appendChild(svgEl('path', { d: `M${points(bad, max, W, H).replace(/ /g, ' L')}`, class: 'line-failed' }));
    const last = ok.length >= 2 ? (ok[ok.length - 2] ?? 0) + (bad[bad.length - 2] ?? 0) : 0;
    const hour = ok.reduce((a, b) => a + b, 0);
    const hourFailed = bad.reduce((a, b) => a + b, 0);
    $('rate').textContent = `${num(last)} in the last full minute · ${num(hour)} succeeded, ${num(hourFailed)} failed in the last hour`;
    $('chart-max').textContent = `max ${num(max)}/min`;
    svg.setAttribute('data-points', String(ok.length));
  }

  function sparkline(s: Series | undefined): Element {
    const svg = svgEl('svg', { viewBox: '0 0 60 16', class: 'spark', 'aria-hidden': 'true', preserveAspectRatio: 'none' });
    if (!s) return svg;
    const max = Math.max(1, ...s.succeeded, ...s.failed);
    svg.appendChild(svgEl('polyline', { points: points(s.succeeded, max, 60, 16), class: 'ok' }));
    if (s.failed.some((n) => n > 0)) svg.appendChild(svgEl('polyline', { points: points(s.failed, max, 60, 16), class: 'bad' }));
    return svg;
  }

  function rateText(r: { limit: number; per: number } | null | undefined): string {
    if (!r) return '';
    return `${r.limit}/${r.per === 1 ? 's' : r.per === 60 ? 'm' : r.per === 3600 ? 'h' : `${r.per}s`}`;
  }

  /** `2, gold=10` for `{ default: 2, tiers: { gold: 10 } }`: the limits dialog's syntax. */
  function groupCapText(g: QueueSettings['groupConcurrency'] | undefined): string {
    if (!g) return '';
    return [g.default === null ? null : String(g.default), ...Object.entries(g.tiers).map(([t, n]) => `${t}=${n}`)].filter(Boolean).join(', ');
  }

  function limitsText(q: QueueSettings | undefined): string {
    if (!q) return 'none';
    const parts: string[] = [];
    if (q.concurrency !== null && q.concurrency !== undefined) parts.push(`${q.concurrency} at once`);
    if (q.rateLimit) parts.push(rateText(q.rateLimit));
    if (q.groupConcurrency) parts.push(`${groupCapText(q.groupConcurrency)} per group`);
    if (q.groupRateLimit) parts.push(`${rateText(q.groupRateLimit)} per group`);
    if (q.fair === false) parts.push('not fair');
    if (q.deadLetter) parts.push(`dead letters → ${q.deadLetter}`);
    return parts.length ? parts.join(' · ') : 'none';
  }

  function editLimits(name: string, q: QueueSettings | undefined): void {
    const dialog = $<HTMLDialogElement>('limits');
    $('limits-title').textContent = `Limits of queue ${name}`;
    const conc = $<HTMLInputElement>('l-concurrency');
    conc.value = q?.concurrency ? String(q.concurrency) : '';
    $<HTMLInputElement>('l-rate').value = rateText(q?.rateLimit);
    $<HTMLInputElement>('l-group-concurrency').value = groupCapText(q?.groupConcurrency);
    $<HTMLInputElement>('l-group-rate').value = rateText(q?.groupRateLimit);
    $<HTMLSelectElement>('l-fair').value = q?.fair === false ? 'false' : 'true';
    $<HTMLInputElement>('l-dead-letter').value = q?.deadLetter ?? '';
    $('l-error').textContent = '';
    dialog.setAttribute('data-queue', name);
    dialog.showModal();
    conc.focus();
  }

  $('limits-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const dialog = $<HTMLDialogElement>('limits');
    const name = dialog.getAttribute('data-queue') || '';
    const concText = $<HTMLInputElement>('l-concurrency').value.trim();
    const rateText = $<HTMLInputElement>('l-rate').value.trim();
    if (concText !== '' && !/^[1-9][0-9]*$/.test(concText)) {
      $('l-error').textContent = 'Concurrency must be a whole number of at least 1, or empty';
      return;
    }
    if (rateText !== '' && !/^[0-9]+\/[smh]$/.test(rateText)) {
      $('l-error').textContent = 'Rate limit must look like 5/s, 100/m or 1000/h, or be empty';
      return;
    }
    const groupText = $<HTMLInputElement>('l-group-concurrency').value.trim();
    const groupRateText = $<HTMLInputElement>('l-group-rate').value.trim();
    const deadLetter = $<HTMLInputElement>('l-dead-letter').value.trim();
    let groupConcurrency: number | { default?: number; tiers: Record<string, number> } | null = null;
    if (groupText !== '') {
      const tiers: Record<string, number> = {};
      let cap: number | undefined;
      for (const part of groupText.split(',').map((p) => p.trim())) {
        const m = /^(?:([A-Za-z0-9_.:-]{1,100})=)?([1-9][0-9]*)$/.exec(part);
        if (!m) {
          $('l-error').textContent = 'Group concurrency must look like 5, or 5, gold=20, silver=10 (a cap, then caps per tier), or be empty';
          return;
        }
        if (m[1]) tiers[m[1]] = Number(m[2]);
        else cap = Number(m[2]);
      }
      groupConcurrency = Object.keys(tiers).length ? (cap === undefined ? { tiers } : { default: cap, tiers }) : (cap ?? null);
    }
    if (groupRateText !== '' && !/^[0-9]+\/[smh]$/.test(groupRateText)) {
      $('l-error').textContent = 'Group rate limit must look like 5/s, 100/m or 1000/h, or be empty';
      return;
    }
    api(`/queues/${encodeURIComponent(name)}`, 'POST', {
      concurrency: concText === '' ? null : Number(concText),
      rateLimit: rateText === '' ? null : rateText,
      groupConcurrency,
      groupRateLimit: groupRateText === '' ? null : groupRateText,
      fair: $<HTMLSelectElement>('l-fair').value === 'false' ? false : null,
      deadLetter: deadLetter === '' ? null : deadLetter,
    }).then(
      () => {
        dialog.close();
        toast(`Saved the limits of ${name}`);
        load();
      },
      (err: ApiError) => {
        $('l-error').textContent = err.message;
      },
    );
  });
  $('l-cancel').addEventListener('click', () => $<HTMLDialogElement>('limits').close());

  function renderQueues(o: Overview): void {
    const now = Date.parse(o.now);
    const settings = new Map(o.queues.map((q) => [q.name, q]));
    const names = [...new Set([...Object.keys(o.status.queues), ...settings.keys()])].sort();
    const rows = names.map((name) => {
      const c = o.status.queues[name] ?? ({} as Partial<Counts>);
      const q = settings.get(name);
      const isPaused = q?.paused === true;
      const cell = el('td', { className: 'actions-cell' });
      const path = `/queues/${encodeURIComponent(name)}`;
      if (o.features.pause) cell.appendChild(isPaused ? button('Resume', 'secondary', `${path}/resume`, 'resume-queue') : button('Pause', 'secondary', `${path}/pause`, 'pause-queue'));
      const edit = el('button', { type: 'button', className: 'secondary', text: 'Limits', 'data-testid': 'edit-limits', 'aria-label': `Edit the limits of ${name}` }) as HTMLButtonElement;
      edit.addEventListener('click', () => editLimits(name, q));
      cell.appendChild(edit);
      const link = (status: string, n: number | undefined) =>
        el('td', null, [n ? el('a', { href: `#/tasks?queue=${encodeURIComponent(name)}&status=${status}`, text: num(n) }) : num(n ?? 0)]);
      return el('tr', { 'data-queue': name }, [
        el('td', null, [el('a', { href: `#/tasks?queue=${encodeURIComponent(name)}`, text: name }), ' ', isPaused ? badge('paused', 'var(--running)') : null]),
        link('queued', c.queued),
        link('running', c.running),
        el('td', { text: num(c.succeeded ?? 0) }),
        link('failed', c.failed),
        el('td', { text: num(c.cancelled ?? 0) }),
        el('td', { text: c.oldestQueuedAt ? since(now, c.oldestQueuedAt) : '–' }),
        el('td', { text: num(c.last24h ?? 0) }),
        el('td', { className: 'muted', text: limitsText(q) }),
        el('td', null, [sparkline(history?.queues[name])]),
        cell,
      ]);
    });
    replace($('queues'), rows, 'No tasks yet', 11);
  }

  function taskHead(t: TaskSummary, extra: Child[]): HTMLElement {
    return el('div', { className: 'row' }, [taskLink(t), el('span', { className: 'id', text: `#${t.id}` }), badge(t.queue, 'var(--queued)'), ...extra]);
  }

  function renderRunning(o: Overview): void {
    const now = Date.parse(o.now);
    const items = o.running.map((t) => {
      const p = t.progress;
      const of = p && typeof p.total === 'number' && p.total > 0 ? p.total : null;
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'running-task' }, [
        taskHead(t, [
          el('span', { className: 'muted', text: `attempt ${t.attempts} · ${since(now, t.startedAt)}` }),
          el('span', { className: 'muted actions', text: p && of !== null ? `${p.current} / ${of}` : p ? String(p.current) : '' }),
        ]),
        bar([[p && of !== null ? p.current / of : 0, null]], of === null, `progress of task ${t.id}`),
      ]);
    });
    $('running-count').textContent = o.status.total.running ? String(o.status.total.running) : '';
    replace($('running'), items, 'No task is running');
  }

  function errorDetails(t: TaskSummary): HTMLElement | null {
    if (!t.errors || t.errors.length < 2) return null;
    return el('details', null, [el('summary', { text: `error history (${t.errors.length})` }), el('ol', null, t.errors.map((e) => el('li', { text: `attempt ${e.attempt}: ${e.message}` })))]);
  }

  function renderFailures(o: Overview): void {
    const now = Date.parse(o.now);
    const failedItems = o.failed.map((t) =>
      el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'failed-task' }, [
        taskHead(t, [
          badge('failed'),
          el('span', { className: 'muted', text: `${t.attempts} attempt${t.attempts === 1 ? '' : 's'} · ${since(now, t.finishedAt)} ago` }),
          el('span', { className: 'actions' }, [button('Retry', '', `/tasks/${t.id}/retry`, 'retry')]),
        ]),
        el('div', { className: 'error', text: t.lastError || '' }),
        errorDetails(t),
      ]),
    );
    const retrying = o.retrying.map((t) => {
      const wait = Date.parse(t.runAt) - now;
      return el('div', { className: 'item', 'data-task': t.id, 'data-testid': 'retrying-task' }, [
        taskHead(t, [
          badge('retrying'),
          el('span', { className: 'muted', text: `attempt ${t.attempts + 1} of ${t.maxRetries + 1}${wait > 0 ? ` in ${age(wait)}` : ' due'}` }),
          el('span', { className: 'actions' }, [button('Cancel', 'danger', `/tasks/${t.id}/cancel`, 'cancel')]),
        ]),
        el('div', { className: 'error', text: t.lastError || '' }),
        errorDetails(t),
      ]);
    });
    const n = o.status.total.failed;
    const r = retrying.length;
    $('failed-count').textContent = n ? `${n} failed${r ? `, ${r} retrying` : ''}` : r ? `${r} retrying` : '';
    replace($('failed'), [...retrying, ...failedItems], 'No failed tasks');
  }

  function batchItem(b: Batch): HTMLElement {
    const total = Math.max(1, b.total);
    // Sent is green, failed red: a send that only failed shows no green at all.
    return el('div', { className: 'item', 'data-testid': 'batch', 'data-batch': b.id }, [
      el('div', { className: 'row' }, [
        el('a', { className: 'name', href: `#/batches/${b.id}`, text: b.name ?? b.id }),
        badge(b.channel, 'var(--queued)'),
        el('span', { className: 'muted actions', text: `${num(b.completed)} sent · ${num(b.failed)} failed · ${num(b.total)} total (${b.progress}%)` }),
      ]),
      bar(
        [
          [b.completed / total, 'var(--succeeded)'],
          [b.failed / total, 'var(--failed)'],
        ],
        false,
        `progress of bulk send ${b.name ?? b.id}`,
      ),
    ]);
  }

  function renderBatches(o: Overview): void {
    $('batches-panel').hidden = o.batches === null;
    if (o.batches === null) return;
    replace($('batches'), o.batches.slice(0, 10).map(batchItem), 'No bulk sends yet');
  }

  function renderSchedules(o: Overview): void {
    const now = Date.parse(o.now);
    const items = o.schedules.map((s) => {
      const paused = s.paused === true;
      const actions = el('span', { className: 'actions' });
      if (o.features.schedules) {
        const path = `/schedules/${encodeURIComponent(s.name)}`;
        actions.appendChild(paused ? button('Resume', 'secondary', `${path}/resume`, 'resume-schedule') : button('Pause', 'secondary', `${path}/pause`, 'pause-schedule'));
      }
      return el('div', { className: 'item', 'data-testid': 'schedule' }, [
        el('div', { className: 'row' }, [
          el('span', { className: 'name', text: s.name }),
          el('span', { className: 'id', text: s.cron }),
          el('span', { className: 'muted', text: `→ ${s.task}` }),
          paused ? badge('paused', 'var(--running)') : null,
          s.nextRunAt && !paused ? el('span', { className: 'muted', text: `next in ${age(Date.parse(s.nextRunAt) - now)}` }) : null,
          actions,
        ]),
      ]);
    });
    $('schedules-panel').hidden = false;
    replace($('schedules'), items, 'No schedules');
  }

  function renderMessages(o: Overview): void {
    $('messages-panel').hidden = o.messages === null;
    $('nav-messages').hidden = o.batches === null;
    if (o.messages === null) return;
    const m = o.messages.channels;
    const channels = Object.keys(m);
    const container = $('messages');
    clear(container);
    if (channels.length === 0) {
      container.appendChild(el('p', { className: 'empty', text: 'No messages yet' }));
      return;
    }
    const statuses: string[] = [];
    for (const c of channels) {
      for (const [s, n] of Object.entries(m[c] ?? {})) if (s !== 'total' && !statuses.includes(s) && n > 0) statuses.push(s);
    }
    statuses.push('total');
    const head = el('tr', null, [el('th', { text: 'Channel' }), ...statuses.map((s) => el('th', { text: s }))]);
    const rows = channels.map((c) => el('tr', null, [el('td', { text: c }), ...statuses.map((s) => el('td', { text: num(m[c]?.[s] ?? 0) }))]));
    container.appendChild(el('div', { className: 'scroll' }, [el('table', null, [el('thead', null, [head]), el('tbody', null, rows)])]));
  }

  async function loadOverview(): Promise<void> {
    const o = await api<Overview>('/overview');
    if (!o) return;
    // The per-minute history changes once a minute: read it every 10 s (and at once after a reload).
    if (!history || Date.now() - historyAt > 10_000) {
      history = await api<History>('/history?minutes=60');
      historyAt = Date.now();
    }
    renderCounts(o);
    renderChart();
    renderQueues(o);
    renderRunning(o);
    renderFailures(o);
    renderBatches(o);
    renderSchedules(o);
    renderMessages(o);
    if (o.refresh) refresh = Math.max(200, o.refresh * 1000);
  }

  // ------------------------------------------------------------------- tasks

  interface TaskCounts {
    counts: Record<string, number>;
    /** Some counts are estimates (exact counting of a broad filter over many rows would be slow). */
    approximate: boolean;
    statuses: string[];
    queues: string[];
    names: string[];
  }

  /** Cursors of the pages before the current one (keyset paging only goes forward). */
  let pageStack: string[] = [];
  let pageCursor: string | undefined;
  let nextCursor: string | null = null;
  let selected = new Set<string>();
  let selectAllMatching = false;
  let matchingCount = 0;
  /** `~` before counts that are estimates. */
  let about = '';
  let shown: TaskSummary[] = [];
  let listKey = '';

  /** The API query of the list's filter (from the URL), without paging. */
  function filterQuery(params: URLSearchParams): URLSearchParams {
    const q = new URLSearchParams();
    for (const k of ['queue', 'name', 'q']) {
      const v = params.get(k);
      if (v) q.set(k, v);
    }
    const range = params.get('range');
    const spans: Record<string, number> = { '15m': 900_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 };
    if (range && spans[range]) q.set('createdAfter', String(Date.now() - (spans[range] as number)));
    if (range === 'custom') {
      const after = params.get('after');
      const before = params.get('before');
      if (after && !Number.isNaN(Date.parse(after))) q.set('createdAfter', String(Date.parse(after)));
      if (before && !Number.isNaN(Date.parse(before))) q.set('createdBefore', String(Date.parse(before)));
    }
    return q;
  }

  function fillSelect(select: HTMLSelectElement, values: string[], current: string): void {
    const keep = select.options[0];
    clear(select);
    if (keep) select.appendChild(keep);
    for (const v of values) select.appendChild(el('option', { value: v, text: v }));
    if (current && !values.includes(current)) select.appendChild(el('option', { value: current, text: current }));
    select.value = current;
  }

  function syncForm(params: URLSearchParams): void {
    const form = $<HTMLFormElement>('task-filter');
    for (const k of ['range', 'sort', 'q', 'after', 'before']) {
      const input = form.elements.namedItem(k) as HTMLInputElement | HTMLSelectElement | null;
      if (input && doc.activeElement !== input) input.value = params.get(k) ?? (k === 'sort' ? 'newest' : '');
    }
    for (const node of doc.querySelectorAll<HTMLElement>('.custom-range')) node.hidden = params.get('range') !== 'custom';
  }

  function go(params: URLSearchParams): void {
    for (const [k, v] of [...params]) if (v === '') params.delete(k);
    location.hash = `#/tasks${params.size ? `?${params}` : ''}`;
  }

  function renderChips(c: TaskCounts, params: URLSearchParams): void {
    const current = params.get('status') ?? '';
    const chip = (status: string, label: string, n: number) => {
      const p = new URLSearchParams(params);
      if (status) p.set('status', status);
      else p.delete('status');
      if (FINISHED.includes(status) && p.get('sort') === 'priority') p.delete('sort'); // claim order lists live tasks only
      return el('a', { className: 'chip', href: `#/tasks?${p}`, 'aria-current': current === status ? 'true' : null, 'data-status': status || 'all', style: `--c:${COLORS[status] ?? 'var(--accent)'}` }, [
        label,
        ' ',
        el('span', { className: 'n', text: `${about}${num(n)}`, title: about ? 'estimated: counting exactly would be slow' : undefined }),
      ]);
    };
    about = c.approximate ? '~' : '';
    const chips = [chip('', 'all', c.counts.total ?? 0)];
    for (const s of c.statuses) {
      chips.push(chip(s, s, c.counts[s] ?? 0));
      if (s === 'queued') for (const sub of ['delayed', 'retrying']) chips.push(chip(sub, sub, c.counts[sub] ?? 0));
    }
    replace($('status-chips'), chips, '');
    matchingCount = current ? (c.counts[current] ?? 0) : (c.counts.total ?? 0);
  }

  function updateBulk(): void {
    const n = selectAllMatching ? matchingCount : selected.size;
    $('bulk-info').textContent = n ? `${num(n)} task${n === 1 ? '' : 's'} selected${selectAllMatching ? ' (everything matching the filter)' : ''}` : 'Select tasks to act on many at once';
    for (const b of doc.querySelectorAll<HTMLButtonElement>('[data-bulk]')) b.disabled = n === 0;
    const all = $('select-matching');
    const pageAll = shown.length > 0 && shown.every((t) => selected.has(t.id));
    all.hidden = !(pageAll && matchingCount > shown.length) && !selectAllMatching;
    all.textContent = selectAllMatching ? 'Clear selection' : `Select all ${about}${num(matchingCount)} matching this filter`;
    $<HTMLInputElement>('select-page').checked = pageAll;
  }

  function taskRow(t: TaskSummary, now: number): HTMLElement {
    const box = el('input', { type: 'checkbox', 'aria-label': `Select task ${t.id}`, 'data-testid': 'select-task' }) as HTMLInputElement;
    box.checked = selectAllMatching || selected.has(t.id);
    box.disabled = selectAllMatching;
    box.addEventListener('change', () => {
      if (box.checked) selected.add(t.id);
      else selected.delete(t.id);
      updateBulk();
    });
    const retrying = t.status === 'queued' && t.attempts > 0 && t.lastError;
    const delayed = t.status === 'queued' && !retrying && Date.parse(t.runAt) > now;
    const state = retrying ? 'retrying' : delayed ? 'delayed' : t.status;
    const when = FINISHED.includes(t.status) ? stamp(t.finishedAt) : t.status === 'queued' ? (Date.parse(t.runAt) > now ? `in ${age(Date.parse(t.runAt) - now)}` : 'due') : `started ${since(now, t.startedAt)} ago`;
    return el('tr', { 'data-task': t.id, 'data-testid': 'task-row' }, [
      el('td', null, [box]),
      el('td', null, [taskLink(t), ' ', el('span', { className: 'id', text: `#${t.id}` })]),
      el('td', null, [t.queue, t.deadFrom ? el('span', { className: 'muted', 'data-testid': 'dead-from', text: ` from ${t.deadFrom}` }) : null]),
      el('td', null, [badge(state)]),
      el('td', { text: `${t.attempts}/${t.maxRetries + 1}` }),
      el('td', { text: String(t.priority) }),
      el('td', { text: stamp(t.createdAt) }),
      el('td', { text: when }),
      el('td', { className: 'error-cell', text: t.lastError ?? '', title: t.lastError ?? undefined }),
    ]);
  }

  async function loadTasks(r: Route): Promise<void> {
    const params = r.params;
    const key = [...filterQuery(params), ['status', params.get('status') ?? ''], ['sort', params.get('sort') ?? '']].map(([k, v]) => `${k}=${k === 'createdAfter' ? params.get('range') : v}`).join('&');
    if (key !== listKey) {
      listKey = key;
      pageStack = [];
      pageCursor = undefined;
      selected = new Set();
      selectAllMatching = false;
    }
    syncForm(params);
    const filter = filterQuery(params);
    const list = new URLSearchParams(filter);
    const status = params.get('status');
    if (status) list.set('status', status);
    list.set('sort', params.get('sort') || 'newest');
    list.set('limit', '50');
    if (pageCursor) list.set('cursor', pageCursor);
    const [counts, page, queues] = await Promise.all([
      api<TaskCounts>(`/tasks/counts?${filter}`),
      api<{ tasks: TaskSummary[]; nextCursor: string | null }>(`/tasks?${list}`),
      api<{ queues: QueueSettings[] }>('/queues'),
    ]);
    if (!counts || !page) return;
    const queue = params.get('queue') ?? '';
    const redriveAll = $('redrive-all');
    redriveAll.hidden = !queue || !(queues?.queues ?? []).some((q) => q.deadLetter === queue);
    redriveAll.setAttribute('data-queue', queue);
    fillSelect($<HTMLSelectElement>('f-queue'), counts.queues, params.get('queue') ?? '');
    fillSelect($<HTMLSelectElement>('f-name'), counts.names, params.get('name') ?? '');
    renderChips(counts, params);
    const now = Date.now();
    shown = page.tasks;
    nextCursor = page.nextCursor;
    replace($('task-rows'), page.tasks.map((t) => taskRow(t, now)), 'No task matches this filter', 9);
    $<HTMLButtonElement>('page-prev').disabled = pageStack.length === 0;
    $<HTMLButtonElement>('page-next').disabled = nextCursor === null;
    const from = pageStack.length * 50;
    $('page-info').textContent = page.tasks.length ? `${num(from + 1)}–${num(from + page.tasks.length)} of ${about}${num(matchingCount)}` : '';
    updateBulk();
  }

  $('task-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const params = new URLSearchParams(route().params);
    for (const k of ['queue', 'name', 'range', 'sort', 'q', 'after', 'before']) {
      const input = form.elements.namedItem(k) as HTMLInputElement | HTMLSelectElement | null;
      if (input) params.set(k, input.value.trim());
    }
    if (params.get('range') !== 'custom') {
      params.delete('after');
      params.delete('before');
    }
    if (params.get('sort') === 'newest') params.delete('sort');
    go(params);
  });
  for (const id of ['f-queue', 'f-name', 'f-range', 'f-sort']) {
    $(id).addEventListener('change', () => {
      if (id === 'f-sort' && $<HTMLSelectElement>('f-sort').value === 'priority' && FINISHED.includes(route().params.get('status') ?? '')) {
        // Priority is the claim order of live tasks: drop a finished status rather than ask for a list the API refuses.
        const params = new URLSearchParams(route().params);
        params.delete('status');
        params.set('sort', 'priority');
        go(params);
        return;
      }
      if (id === 'f-range' && $<HTMLSelectElement>('f-range').value === 'custom') {
        for (const node of doc.querySelectorAll<HTMLElement>('.custom-range')) node.hidden = false;
        return;
      }
      $<HTMLFormElement>('task-filter').requestSubmit();
    });
  }
  $('page-next').addEventListener('click', () => {
    if (!nextCursor) return;
    pageStack.push(pageCursor ?? '');
    pageCursor = nextCursor;
    load();
  });
  $('page-prev').addEventListener('click', () => {
    if (pageStack.length === 0) return;
    pageCursor = pageStack.pop() || undefined;
    load();
  });
  $('select-page').addEventListener('change', (e) => {
    const on = (e.target as HTMLInputElement).checked;
    selectAllMatching = false;
    for (const t of shown) {
      if (on) selected.add(t.id);
      else selected.delete(t.id);
    }
    for (const box of doc.querySelectorAll<HTMLInputElement>('#task-rows input[type=checkbox]')) {
      box.checked = on;
      box.disabled = false;
    }
    updateBulk();
  });
  $('select-matching').addEventListener('click', () => {
    selectAllMatching = !selectAllMatching;
    if (!selectAllMatching) selected = new Set();
    for (const box of doc.querySelectorAll<HTMLInputElement>('#task-rows input[type=checkbox]')) {
      box.checked = selectAllMatching;
      box.disabled = selectAllMatching;
    }
    updateBulk();
  });

  /** Moves dead-lettered tasks back after a confirmation that states how many (a dry run counts them). */
  async function redriveTasks(filter: Record<string, unknown>, what: string): Promise<void> {
    const dry = await api<{ matching: number }>('/redrive', 'POST', { ...filter, dryRun: true });
    const n = dry?.matching ?? 0;
    if (n === 0) {
      toast(`No dead-lettered task ${what} to redrive`);
      return;
    }
    if (!(await confirmDialog(`Redrive ${num(n)} dead-lettered task${n === 1 ? '' : 's'} ${what} back to ${n === 1 ? 'the queue it' : 'the queues they'} came from?`))) return;
    const res = await api<{ moved: number }>('/redrive', 'POST', filter);
    toast(`${num(res?.moved ?? 0)} task${res?.moved === 1 ? '' : 's'} redriven`);
    load();
  }

  $('redrive-all').addEventListener('click', () => {
    const queue = $('redrive-all').getAttribute('data-queue') || '';
    const name = route().params.get('name');
    redriveTasks({ deadLetter: queue, ...(name ? { name } : {}) }, `in ${queue}${name ? ` named ${name}` : ''}`).catch((err: ApiError) => failed(err));
  });

  const VERB: Record<string, [string, string]> = { retry: ['Retry', 'retried'], promote: ['Run now', 'made due'], cancel: ['Cancel', 'cancelled'], delete: ['Delete', 'deleted'] };

  async function bulk(action: string): Promise<void> {
    const params = route().params;
    const body: Record<string, unknown> = { action };
    if (selectAllMatching) {
      const filter: Record<string, unknown> = {};
      for (const [k, v] of filterQuery(params)) filter[k] = k === 'createdAfter' || k === 'createdBefore' ? Number(v) : v;
      const status = params.get('status');
      if (status) filter.status = status;
      body.filter = filter;
    } else body.ids = [...selected];
    const dry = await api<{ count: number }>('/tasks/actions', 'POST', { ...body, dryRun: true });
    const n = dry?.count ?? 0;
    const [verb, done] = VERB[action] ?? [action, action];
    if (n === 0) {
      toast(`None of the selected tasks can be ${done}`);
      return;
    }
    const chosen = selectAllMatching ? matchingCount : selected.size;
    const rest = chosen > n ? ` (${num(chosen - n)} of the selection are in a state this does not apply to)` : '';
    if (!(await confirmDialog(`${verb} ${num(n)} task${n === 1 ? '' : 's'}?${rest}`))) return;
    const res = await api<{ count: number; skipped: number }>('/tasks/actions', 'POST', body);
    toast(`${num(res?.count ?? 0)} task${res?.count === 1 ? '' : 's'} ${done}${res?.skipped ? `; ${res.skipped} skipped (their key is taken)` : ''}`);
    selected = new Set();
    selectAllMatching = false;
    load();
  }

  for (const b of doc.querySelectorAll<HTMLButtonElement>('[data-bulk]')) {
    b.addEventListener('click', () => {
      bulk(b.getAttribute('data-bulk') || '').catch((err: ApiError) => failed(err));
    });
  }

  // ------------------------------------------------------------- task detail

  function json(value: unknown): HTMLElement {
    return el('pre', { className: 'json', tabindex: 0, text: value === undefined ? '–' : JSON.stringify(value, null, 2) });
  }

  function fact(label: string, value: Child): HTMLElement {
    return el('div', { className: 'fact' }, [el('dt', { text: label }), el('dd', null, [value ?? '–'])]);
  }

  function renderTask(t: TaskDetail): void {
    const now = Date.now();
    const box = $('task-detail');
    clear(box);
    const retrying = t.status === 'queued' && t.attempts > 0 && t.lastError;
    const delayed = t.status === 'queued' && Date.parse(t.runAt) > now;
    const actions = el('span', { className: 'actions' });
    const path = `/tasks/${t.id}`;
    if (!FINISHED.includes(t.status)) actions.appendChild(button('Cancel', 'danger', `${path}/cancel`, 'detail-cancel'));
    if (t.status === 'failed' && t.deadFrom) {
      const redrive = el('button', { type: 'button', text: `Redrive to ${t.deadFrom}`, 'data-testid': 'detail-redrive' }) as HTMLButtonElement;
      redrive.addEventListener('click', () => {
        redriveTasks({ id: t.id }, `(task ${t.id})`).catch((err: ApiError) => failed(err));
      });
      actions.appendChild(redrive);
    }
    if (t.status === 'failed' || t.status === 'cancelled') actions.appendChild(button('Retry', t.deadFrom ? 'secondary' : '', `${path}/retry`, 'detail-retry'));
    if (delayed) actions.appendChild(button('Run now', 'secondary', `${path}/promote`, 'detail-promote'));
    if (FINISHED.includes(t.status)) {
      const del = el('button', { type: 'button', className: 'danger', text: 'Delete', 'data-testid': 'detail-delete' }) as HTMLButtonElement;
      del.addEventListener('click', async () => {
        if (!(await confirmDialog(`Delete task ${t.id} for good?`))) return;
        api(path, 'DELETE').then(() => {
          toast(`Task ${t.id} deleted`);
          location.hash = '#/tasks';
        }, failed);
      });
      actions.appendChild(del);
    }
    box.appendChild(
      el('div', { className: 'row detail-head' }, [
        el('h2', { text: t.name }),
        el('span', { className: 'id', text: `#${t.id}` }),
        el('span', { 'data-testid': 'detail-status' }, [badge(retrying ? 'retrying' : delayed ? 'delayed' : t.status)]),
        actions,
      ]),
    );
    const p = t.progress;
    if (p) {
      const of = typeof p.total === 'number' && p.total > 0 ? p.total : null;
      box.appendChild(el('div', { className: 'progress' }, [el('span', { className: 'muted', text: of ? `progress ${p.current} / ${of}` : `progress ${p.current}` }), bar([[of ? p.current / of : 0, null]], of === null, 'progress')]));
    }
    const rp = t.retryPolicy;
    box.appendChild(
      el('dl', { className: 'facts' }, [
        fact('Queue', el('a', { href: `#/tasks?queue=${encodeURIComponent(t.queue)}`, text: t.queue })),
        t.deadFrom ? fact('Dead-lettered from', el('a', { href: `#/tasks?queue=${encodeURIComponent(t.deadFrom)}`, 'data-testid': 'detail-dead-from', text: t.deadFrom })) : null,
        t.workflowId
          ? fact('Workflow or batch', el('a', { href: `#/workflows/${encodeURIComponent(t.workflowId)}`, 'data-testid': 'workflow-link', text: `#${t.workflowId}${t.step ? ` · step ${t.step}` : ''}` }))
          : null,
        fact('Priority', String(t.priority)),
        fact('Key', t.key ? el('code', { text: t.key }) : '–'),
        fact('Attempts', `${t.attempts} of ${rp.maxRetries + 1}`),
        fact(
          'Retry policy',
          `${rp.maxRetries === 0 ? 'no retries' : `${rp.maxRetries} retries, ${rp.backoff ?? 'default'} backoff from ${rp.retryDelay} s${rp.maxDelay !== null ? `, at most ${rp.maxDelay} s` : ''}`}${rp.timeout !== null ? `; timeout ${rp.timeout} s` : ''}`,
        ),
        fact('Enqueued', stamp(t.createdAt)),
        fact(t.status === 'queued' ? 'Due' : 'Run at', `${stamp(t.runAt)}${Date.parse(t.runAt) > now ? ` (in ${age(Date.parse(t.runAt) - now)})` : ''}`),
        fact('Started', stamp(t.startedAt)),
        fact('Finished', stamp(t.finishedAt)),
        fact('Updated', stamp(t.updatedAt)),
        fact('Worker', t.worker ?? '–'),
      ]),
    );
    if (t.lastError) box.appendChild(el('div', { className: 'error last-error', text: t.lastError }));
    box.appendChild(el('div', { className: 'grid two' }, [el('div', null, [el('h3', { text: 'Payload' }), json(t.payload)]), el('div', null, [el('h3', { text: 'Result' }), json(t.result)])]));
    box.appendChild(el('h3', { text: `Attempts (${t.attemptTimeline.length})` }));
    const items = t.attemptTimeline.map((a, i) =>
      el('li', { className: `attempt o-${a.outcome}`, 'data-testid': 'attempt' }, [
        el('div', { className: 'row' }, [
          el('strong', { text: `Attempt ${a.attempt}` }),
          badge(a.outcome),
          el('span', { className: 'muted', text: `${stamp(a.startedAt)} → ${a.endedAt ? stamp(a.endedAt) : 'running'} · ${duration(a.durationMs)}` }),
          a.worker ? el('span', { className: 'muted', text: `on ${a.worker}` }) : null,
        ]),
        a.error ? el('div', { className: 'error', text: a.error.message }) : null,
        a.error?.stack ? el('details', { open: i === t.attemptTimeline.length - 1 }, [el('summary', { text: 'stack trace' }), el('pre', { className: 'trace', 'data-testid': 'stack', text: a.error.stack })]) : null,
      ]),
    );
    box.appendChild(items.length ? el('ol', { className: 'timeline' }, items) : el('p', { className: 'empty', text: 'Not started yet' }));
  }

  async function loadTask(r: Route): Promise<void> {
    try {
      const t = await api<TaskDetail>(`/tasks/${encodeURIComponent(r.id ?? '')}`);
      if (t) renderTask(t);
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 404 || e.status === 400) {
        const box = $('task-detail');
        clear(box);
        box.appendChild(el('p', { className: 'empty', text: `No task ${r.id}: ${e.message}` }));
        return;
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------- workflow

  /** Column of each step: one past its deepest parent (0 without parents in the workflow), then moved right up to its nearest child. */
  function depths(steps: WorkflowStep[]): Map<string, number> {
    const byId = new Map(steps.map((s) => [s.taskId, s]));
    const depth = new Map<string, number>();
    const of = (id: string): number => {
      const known = depth.get(id);
      if (known !== undefined) return known;
      depth.set(id, 0); // a cycle cannot be enqueued; this only guards the recursion
      const parents = (byId.get(id)?.dependsOn ?? []).filter((p) => byId.has(p));
      const d = parents.length ? 1 + Math.max(...parents.map(of)) : 0;
      depth.set(id, d);
      return d;
    };
    for (const s of steps) of(s.taskId);
    // Then as late as its children allow, so that a parent sits next to them and no edge runs behind a box.
    const children = new Map<string, string[]>();
    for (const s of steps) for (const p of s.dependsOn) if (byId.has(p)) children.set(p, [...(children.get(p) ?? []), s.taskId]);
    for (const s of [...steps].sort((a, b) => (depth.get(b.taskId) ?? 0) - (depth.get(a.taskId) ?? 0))) {
      const kids = children.get(s.taskId);
      if (kids?.length) depth.set(s.taskId, Math.min(...kids.map((k) => depth.get(k) ?? 0)) - 1);
    }
    return depth;
  }

  function clip(text: string, n: number): string {
    return text.length > n ? `${text.slice(0, n - 1)}…` : text;
  }

  /** The workflow as a graph: steps as boxes coloured by state, in columns by depth; edges from parent to child. */
  function workflowGraph(w: Workflow): Element {
    const W = 180;
    const H = 48;
    const GX = 56;
    const GY = 14;
    const PAD = 8;
    const depth = depths(w.steps);
    const columns: WorkflowStep[][] = [];
    for (const s of w.steps) (columns[depth.get(s.taskId) ?? 0] ??= []).push(s);
    const at = new Map<string, { x: number; y: number }>();
    columns.forEach((col, c) => {
      col.forEach((s, r) => {
        at.set(s.taskId, { x: PAD + c * (W + GX), y: PAD + r * (H + GY) });
      });
    });
    const width = PAD * 2 + Math.max(1, columns.length) * (W + GX) - GX;
    const height = PAD * 2 + Math.max(1, ...columns.map((c) => c.length)) * (H + GY) - GY;
    const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width: String(width), height: String(height), class: 'wf-graph', role: 'img', 'aria-label': `Steps of ${w.kind} ${w.name ?? w.id} and their dependencies` });
    for (const s of w.steps) {
      const to = at.get(s.taskId);
      for (const p of s.dependsOn) {
        const from = at.get(p);
        if (!from || !to) continue;
        const x1 = from.x + W;
        const y1 = from.y + H / 2;
        const x2 = to.x;
        const y2 = to.y + H / 2;
        const mid = (x1 + x2) / 2;
        svg.appendChild(svgEl('path', { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: 'wf-edge', 'data-testid': 'wf-edge', 'data-from': p, 'data-to': s.taskId }));
      }
    }
    for (const s of w.steps) {
      const { x, y } = at.get(s.taskId) ?? { x: 0, y: 0 };
      const node = svgEl('a', { href: `#/tasks/${s.taskId}`, class: `wf-node s-${s.status}`, 'data-testid': 'wf-step', 'data-task': s.taskId, 'data-status': s.status });
      const title = svgEl('title', {});
      title.textContent = `${s.step ?? s.name} (task ${s.taskId}): ${s.status}${s.lastError ? ` — ${s.lastError}` : ''}`;
      const label = svgEl('text', { x: String(x + 10), y: String(y + 20), class: 'wf-label' });
      label.textContent = clip(s.step ?? s.name, 24);
      const state = svgEl('text', { x: String(x + 10), y: String(y + 38), class: 'wf-state' });
      state.textContent = `${s.status}${s.status === 'waiting' && s.pendingParents ? ` for ${s.pendingParents}` : ''}${s.attempts > 1 ? ` · ${s.attempts} tries` : ''}`;
      node.append(title, svgEl('rect', { x: String(x), y: String(y), width: String(W), height: String(H), rx: '7' }), label, state);
      svg.appendChild(node);
    }
    return svg;
  }

  async function loadWorkflow(r: Route): Promise<void> {
    const box = $('workflow-detail');
    let w: Workflow | null;
    try {
      w = await api<Workflow>(`/workflows/${encodeURIComponent(r.id ?? '')}`);
    } catch (err) {
      const e = err as ApiError;
      if (e.status !== 404 && e.status !== 400) throw err;
      clear(box);
      box.appendChild(el('p', { className: 'empty', text: `No workflow ${r.id}: ${e.message}` }));
      return;
    }
    if (!w) return;
    clear(box);
    box.appendChild(
      el('div', { className: 'row detail-head' }, [
        el('h2', { text: w.name ?? `${w.kind} ${w.id}` }),
        el('span', { className: 'id', text: `${w.kind} #${w.id}` }),
        el('span', { 'data-testid': 'workflow-status' }, [badge(w.status)]),
      ]),
    );
    const counts = Object.entries(w.progress).filter(([k, n]) => k !== 'total' && n > 0);
    box.appendChild(el('p', { className: 'muted', text: `${num(w.progress.total ?? w.steps.length)} tasks${counts.map(([k, n]) => ` · ${num(n)} ${k}`).join('')} · created ${stamp(w.createdAt)}` }));
    box.appendChild(el('div', { className: 'scroll' }, [workflowGraph(w)]));
    box.appendChild(el('h3', { text: `Steps (${w.steps.length})` }));
    const rows = w.steps.map((s) =>
      el('tr', { 'data-testid': 'wf-row', 'data-task': s.taskId }, [
        el('td', null, [el('a', { href: `#/tasks/${s.taskId}`, className: 'name', text: s.step ?? s.name }), ' ', el('span', { className: 'id', text: `#${s.taskId}` })]),
        el('td', { text: s.name }),
        el('td', null, [badge(s.status)]),
        el('td', { text: s.dependsOn.length ? s.dependsOn.map((p) => `#${p}`).join(', ') : '–' }),
        el('td', { text: String(s.attempts) }),
        el('td', { className: 'error-cell', text: s.lastError ?? '' }),
      ]),
    );
    box.appendChild(
      el('div', { className: 'scroll' }, [
        el('table', { className: 'tasks' }, [
          el('thead', null, [el('tr', null, ['Step', 'Task', 'Status', 'After', 'Tries', 'Last error'].map((h) => el('th', { text: h })))]),
          el('tbody', null, rows),
        ]),
      ]),
    );
  }

  // ----------------------------------------------------------------- workers

  async function loadWorkers(): Promise<void> {
    const body = await api<{ workers: Worker[] }>('/workers');
    if (!body) return;
    const now = Date.now();
    const rows = body.workers.map((w) =>
      el('tr', { className: w.state === 'alive' ? '' : 'gone', 'data-testid': 'worker', 'data-state': w.state }, [
        el('td', { className: 'mono', text: w.id }),
        el('td', null, [badge(w.state, w.state === 'alive' ? 'var(--succeeded)' : w.state === 'dead' ? 'var(--failed)' : 'var(--cancelled)')]),
        el('td', { text: w.host }),
        el('td', { text: String(w.pid) }),
        el('td', { text: w.queues ? w.queues.join(', ') : 'all' }),
        el('td', { text: String(w.concurrency) }),
        el('td', { text: String(w.running) }),
        el('td', { text: `${since(now, w.lastHeartbeat)} ago` }),
        el('td', { text: stamp(w.startedAt) }),
        el('td', { text: w.version }),
      ]),
    );
    const alive = body.workers.filter((w) => w.state === 'alive').length;
    $('workers-count').textContent = `${alive} live${body.workers.length > alive ? `, ${body.workers.length - alive} stopped or dead (last hour)` : ''}`;
    replace($('worker-rows'), rows, 'No worker has run in the last hour', 10);
  }

  // --------------------------------------------------------------- schedules

  let previewTimer: ReturnType<typeof setTimeout> | undefined;
  let tasksKnown = false;

  function previewCron(): void {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => {
      const cron = $<HTMLInputElement>('s-cron').value.trim();
      const timezone = $<HTMLInputElement>('s-timezone').value.trim() || 'UTC';
      const out = $('s-preview');
      if (!cron) {
        out.textContent = '';
        return;
      }
      api<{ nextRuns: string[] }>('/schedule-preview', 'POST', { cron, timezone, count: 5 }).then(
        (r) => {
          out.textContent = `Next runs: ${(r?.nextRuns ?? []).map((d) => stamp(d)).join(' · ')}`;
          out.className = 'muted';
        },
        (err: ApiError) => {
          out.textContent = err.message;
          out.className = 'error';
        },
      );
    }, 250);
  }

  function resetScheduleForm(): void {
    const form = $<HTMLFormElement>('schedule-form');
    form.reset();
    $<HTMLInputElement>('s-name').readOnly = false;
    $('schedule-form-title').textContent = 'New schedule';
    $('s-error').textContent = '';
    $('s-preview').textContent = '';
  }

  function editSchedule(s: Schedule): void {
    $<HTMLInputElement>('s-name').value = s.name;
    $<HTMLInputElement>('s-name').readOnly = true;
    $<HTMLInputElement>('s-cron').value = s.cron;
    $<HTMLInputElement>('s-timezone').value = s.timezone;
    const task = $<HTMLSelectElement>('s-task');
    if (![...task.options].some((o) => o.value === s.task)) task.appendChild(el('option', { value: s.task, text: s.task }));
    task.value = s.task;
    $<HTMLTextAreaElement>('s-payload').value = JSON.stringify(s.payload ?? {}, null, 2);
    $('schedule-form-title').textContent = `Edit ${s.name}`;
    $('s-error').textContent = '';
    previewCron();
    $<HTMLInputElement>('s-cron').focus();
  }

  async function loadSchedules(): Promise<void> {
    if (!tasksKnown) {
      const types = await api<{ taskTypes: { name: string }[] }>('/task-types');
      const select = $<HTMLSelectElement>('s-task');
      clear(select);
      for (const t of types?.taskTypes ?? []) if (!t.name.startsWith('pgcourier.')) select.appendChild(el('option', { value: t.name, text: t.name }));
      tasksKnown = true;
    }
    const body = await api<{ schedules: Schedule[] }>('/schedules');
    if (!body) return;
    const now = Date.now();
    const items = body.schedules.map((s) => {
      const path = `/schedules/${encodeURIComponent(s.name)}`;
      const edit = el('button', { type: 'button', className: 'secondary', text: 'Edit', 'data-testid': 'edit-schedule' }) as HTMLButtonElement;
      edit.addEventListener('click', () => editSchedule(s));
      const del = el('button', { type: 'button', className: 'danger', text: 'Delete', 'data-testid': 'delete-schedule' }) as HTMLButtonElement;
      del.addEventListener('click', async () => {
        if (!(await confirmDialog(`Delete schedule ${s.name}?`))) return;
        act(del, path, 'DELETE');
      });
      return el('div', { className: 'item', 'data-testid': 'schedule-row', 'data-schedule': s.name }, [
        el('div', { className: 'row' }, [
          el('span', { className: 'name', text: s.name }),
          el('code', { text: s.cron }),
          el('span', { className: 'muted', text: `${s.timezone} → ${s.task}` }),
          s.paused ? badge('paused', 'var(--running)') : null,
          el('span', { className: 'actions' }, [
            s.paused ? button('Resume', 'secondary', `${path}/resume`, 'resume-schedule') : button('Pause', 'secondary', `${path}/pause`, 'pause-schedule'),
            edit,
            del,
          ]),
        ]),
        el('div', { className: 'muted', text: `next ${s.paused ? '(paused)' : `${stamp(s.nextRunAt)} (in ${age(Date.parse(s.nextRunAt ?? '') - now)})`} · last ${stamp(s.lastRunAt)}` }),
      ]);
    });
    replace($('schedule-list'), items, 'No schedules yet');
  }

  $('s-cron').addEventListener('input', previewCron);
  $('s-timezone').addEventListener('input', previewCron);
  $('s-reset').addEventListener('click', resetScheduleForm);
  $('schedule-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const error = $('s-error');
    const name = $<HTMLInputElement>('s-name').value.trim();
    const cron = $<HTMLInputElement>('s-cron').value.trim();
    const timezone = $<HTMLInputElement>('s-timezone').value.trim() || 'UTC';
    const task = $<HTMLSelectElement>('s-task').value;
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) {
      error.textContent = 'Name: 1-128 letters, digits, _ . : -';
      return;
    }
    if (!cron) {
      error.textContent = 'Cron: a cron expression such as "0 3 * * *"';
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse($<HTMLTextAreaElement>('s-payload').value || '{}');
    } catch {
      error.textContent = 'Payload: not valid JSON';
      return;
    }
    error.textContent = '';
    api<Schedule>('/schedules', 'POST', { name, cron, task, payload, options: { timezone } }).then(
      (s) => {
        toast(`Schedule ${s?.name ?? name} saved; next run ${stamp(s?.nextRunAt ?? null)}`);
        resetScheduleForm();
        load();
      },
      (err: ApiError) => {
        if (err.status === 401 || err.status === 403) showAuth(err.message);
        error.textContent = err.message;
      },
    );
  });

  // ---------------------------------------------------------------- messages

  interface MessageRow {
    id: string;
    channel: string;
    to: string;
    status: string;
    provider: string | null;
    batchId: string | null;
    attempts: number;
    error: { code: string | null; text: string | null } | null;
    subject: string | null;
    createdAt: string;
    updatedAt: string;
  }

  const MESSAGE_COLORS: Record<string, string> = { delivered: 'var(--succeeded)', read: 'var(--succeeded)', sent: 'var(--queued)', failed: 'var(--failed)', undelivered: 'var(--failed)' };
  let messageCursor: string | null = null;
  let messageRows: MessageRow[] = [];

  function messageRow(m: MessageRow): HTMLElement {
    return el('tr', { 'data-message': m.id, 'data-testid': 'message-row' }, [
      el('td', null, [el('a', { href: `#/messages/${m.id}`, text: m.to })]),
      el('td', { text: m.channel }),
      el('td', null, [badge(m.status, MESSAGE_COLORS[m.status] ?? 'var(--running)')]),
      el('td', { text: m.provider ?? '–' }),
      el('td', { text: String(m.attempts) }),
      el('td', { text: stamp(m.createdAt) }),
      el('td', { className: 'error-cell', text: m.error ? [m.error.code, m.error.text].filter(Boolean).join(': ') : '' }),
    ]);
  }

  async function loadMessageDetail(id: string): Promise<void> {
    const box = $('message-detail');
    box.hidden = false;
    const [m, h] = await Promise.all([
      api<MessageRow & { from: string | null; providerMessageId: string | null; sentAt: string | null; deliveredAt: string | null }>(`/messages/${encodeURIComponent(id)}`),
      api<{ attempts: { n: number; provider: string; startedAt: string; finishedAt: string | null; outcome: string | null; error: { code: string | null; message: string } | null }[]; events: { source: string; status: string | null; errorCode: string | null; note: string | null; applied: boolean; receivedAt: string }[] }>(
        `/messages/${encodeURIComponent(id)}/history`,
      ),
    ]);
    clear(box);
    if (!m || !h) return;
    box.appendChild(el('div', { className: 'row detail-head' }, [el('h2', { text: `Message to ${m.to}` }), badge(m.status, MESSAGE_COLORS[m.status] ?? 'var(--running)')]));
    box.appendChild(
      el('dl', { className: 'facts' }, [
        fact('Channel', m.channel),
        fact('From', m.from ?? '–'),
        fact('Provider', m.provider ?? '–'),
        fact('Provider id', m.providerMessageId ?? '–'),
        fact('Bulk send', m.batchId ? el('a', { href: `#/batches/${m.batchId}`, text: m.batchId }) : '–'),
        fact('Created', stamp(m.createdAt)),
        fact('Sent', stamp(m.sentAt)),
        fact('Delivered', stamp(m.deliveredAt)),
      ]),
    );
    box.appendChild(el('h3', { text: `Attempts (${h.attempts.length})` }));
    box.appendChild(
      h.attempts.length
        ? el(
            'ol',
            { className: 'timeline' },
            h.attempts.map((a) =>
              el('li', { className: `attempt o-${a.outcome === 'ok' ? 'succeeded' : a.outcome ? 'failed' : 'running'}`, 'data-testid': 'message-attempt' }, [
                el('div', { className: 'row' }, [el('strong', { text: `Attempt ${a.n}` }), badge(a.outcome ?? 'in flight'), el('span', { className: 'muted', text: `${a.provider} · ${stamp(a.startedAt)} → ${stamp(a.finishedAt)}` })]),
                a.error ? el('div', { className: 'error', text: [a.error.code, a.error.message].filter(Boolean).join(': ') }) : null,
              ]),
            ),
          )
        : el('p', { className: 'empty', text: 'No send attempt yet' }),
    );
    box.appendChild(el('h3', { text: `Provider events (${h.events.length})` }));
    box.appendChild(
      h.events.length
        ? el(
            'ol',
            { className: 'timeline' },
            h.events.map((e) =>
              el('li', { className: 'attempt', 'data-testid': 'message-event' }, [
                el('div', { className: 'row' }, [el('strong', { text: e.source }), e.status ? badge(e.status, MESSAGE_COLORS[e.status] ?? 'var(--running)') : null, el('span', { className: 'muted', text: `${stamp(e.receivedAt)}${e.applied ? '' : ' · not applied'}` })]),
                e.errorCode || e.note ? el('div', { className: 'muted', text: [e.errorCode, e.note].filter(Boolean).join(' · ') }) : null,
              ]),
            ),
          )
        : el('p', { className: 'empty', text: 'No provider event yet' }),
    );
  }

  async function loadMessages(r: Route): Promise<void> {
    const batches = await api<{ batches: Batch[] }>('/batches').catch((err: ApiError) => {
      if (err.status === 404) return null;
      throw err;
    });
    replace(
      $('batch-list'),
      (batches?.batches ?? []).map(batchItem),
      batches ? 'No bulk sends yet' : 'Messaging is not installed',
    );
    $('nav-messages').hidden = !batches;
    if (!batches) return;
    const params = new URLSearchParams(r.params);
    if (r.batch) params.set('batch', r.batch);
    for (const k of ['channel', 'status', 'batch']) {
      const input = $<HTMLInputElement>(`m-${k}`);
      if (doc.activeElement !== input) input.value = params.get(k) ?? '';
    }
    const query = new URLSearchParams();
    for (const k of ['channel', 'status', 'batch']) if (params.get(k)) query.set(k, params.get(k) as string);
    query.set('limit', '50');
    const page = await api<{ messages: MessageRow[]; nextCursor: string | null }>(`/messages?${query}`);
    messageRows = page?.messages ?? [];
    messageCursor = page?.nextCursor ?? null;
    replace($('message-rows'), messageRows.map(messageRow), 'No message matches this filter', 7);
    $('messages-more').hidden = messageCursor === null;
    const batchBox = $('batch-detail');
    batchBox.hidden = !r.batch;
    if (r.batch) {
      const b = await api<Batch & { byStatus?: Record<string, number> }>(`/batches/${encodeURIComponent(r.batch)}`);
      clear(batchBox);
      if (b) {
        batchBox.appendChild(el('h2', { text: `Bulk send ${b.name ?? b.id}` }));
        batchBox.appendChild(batchItem(b));
        batchBox.appendChild(el('dl', { className: 'facts' }, Object.entries(b.byStatus ?? {}).filter(([, n]) => n > 0).map(([s, n]) => fact(s, num(n)))));
      }
    }
    $('message-detail').hidden = !r.id;
    if (r.id) await loadMessageDetail(r.id);
  }

  $('message-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const k of ['channel', 'status', 'batch']) {
      const v = $<HTMLInputElement>(`m-${k}`).value.trim();
      if (v) params.set(k, v);
    }
    location.hash = `#/messages${params.size ? `?${params}` : ''}`;
  });
  $('messages-more').addEventListener('click', () => {
    if (!messageCursor) return;
    const params = new URLSearchParams(route().params);
    params.set('limit', '50');
    params.set('cursor', messageCursor);
    params.delete('range');
    api<{ messages: MessageRow[]; nextCursor: string | null }>(`/messages?${params}`).then((page) => {
      messageRows = [...messageRows, ...(page?.messages ?? [])];
      messageCursor = page?.nextCursor ?? null;
      for (const m of page?.messages ?? []) $('message-rows').appendChild(messageRow(m));
      $('messages-more').hidden = messageCursor === null;
    }, failed);
  });

  // -------------------------------------------------------------------- loop

  async function loadView(r: Route): Promise<void> {
    if (r.view === 'overview') return loadOverview();
    if (r.view === 'tasks') return loadTasks(r);
    if (r.view === 'task') return loadTask(r);
    if (r.view === 'workflow') return loadWorkflow(r);
    if (r.view === 'workers') return loadWorkers();
    if (r.view === 'schedules') return loadSchedules();
    if (r.view === 'messages') return loadMessages(r);
  }

  /** Views that refresh on their own; the task list waits for the operator (a selection must not move). */
  const LIVE = new Set(['overview', 'task', 'workflow', 'workers', 'schedules', 'messages']);

  function load(): void {
    clearTimeout(timer);
    const mine = ++generation;
    signedOut = false;
    const r = route();
    showView(r.view);
    loadView(r)
      .then(
        () => {
          $('auth').hidden = true;
          $('forget').hidden = !token;
          setConn('live', 'live');
          $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
        },
        (err: ApiError) => {
          if (err.status === 401 || err.status === 403) showAuth(token ? 'that token was refused' : '');
          else setConn('error', err.message || 'offline');
        },
      )
      .then(() => {
        // Signed out: wait for a token instead of polling.
        if (mine === generation && !signedOut && LIVE.has(route().view)) timer = setTimeout(load, doc.hidden ? Math.max(refresh, 10000) : refresh);
      });
  }

  window.addEventListener('hashchange', () => load());
  $('auth').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('token');
    token = input.value.trim();
    input.value = '';
    try {
      sessionStorage.setItem(KEY, token);
    } catch {
      // private mode
    }
    load();
  });
  $('forget').addEventListener('click', () => {
    token = '';
    try {
      sessionStorage.removeItem(KEY);
    } catch {
      // private mode
    }
    showAuth('');
  });
  doc.addEventListener('visibilitychange', () => {
    if (!doc.hidden) load();
  });
  load();
})();
