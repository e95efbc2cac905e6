import { parse } from '../config.js';
import type { EnqueueRow } from '../enqueue-row.js';
import { ValidationError } from '../errors.js';
import type { EnqueueOptions, TaskManager } from '../manager.js';
import type { TaskDefinition } from '../registry.js';
import type { EdgePolicy, GraphNode, ParentRef } from './graph.js';
import { insertGraph } from './insert.js';
import { stepNameSchema, workflowNameSchema } from './schemas.js';

/**
 * A parent of a workflow step: another step's name, `{ step, onFailure }`, or an
 * existing task as `{ id, onFailure? }`. `onFailure` is what the parent's failure
 * or cancellation does to this step: `'fail'` (default), `'run'` or `'skip'`.
 */
export type StepParent = string | { step: string; onFailure?: EdgePolicy } | { id: string; onFailure?: EdgePolicy };

/** Options of one workflow step: the enqueue options (no `tx`, `key`, `keyMode`) and its parents. */
export type StepOptions = Omit<EnqueueOptions, 'tx' | 'key' | 'keyMode' | 'dependsOn'> & {
  /** Parent steps (or existing tasks) this step waits for. */
  dependsOn?: StepParent[];
};

/** What {@link WorkflowBuilder.enqueue} returns. */
export interface EnqueuedWorkflow {
  /** The workflow id, for `courier.getWorkflow(id)`. */
  id: string;
  /** The task id of each step, by step name. */
  tasks: Record<string, string>;
}

interface Step {
  name: string;
  row: EnqueueRow;
  parents: StepParent[];
}

/**
 * Builds a graph of tasks, then enqueues it in one transaction: named steps, each
 * a task with its payload and options, and edges (`dependsOn`) between them. A
 * step runs once all its parents have finished (by default, all succeeded); it
 * reads their results as `ctx.parents`, keyed by step name. Cycles and unknown
 * step names are refused at {@link WorkflowBuilder.enqueue}, before anything is written.
 * Made by `courier.workflow(name?)`.
 *
 * @example
 * ```ts
 * const wf = courier.workflow('monthly-report');
 * for (const client of ['acme', 'globex']) wf.step(`report:${client}`, buildReport, { client });
 * wf.step('summary', sendSummary, {}, { dependsOn: ['report:acme', { step: 'report:globex', onFailure: 'run' }] });
 * const { id, tasks } = await wf.enqueue();
 * ```
 */
export class WorkflowBuilder {
  readonly #manager: TaskManager;
  readonly #name: string | null;
  readonly #steps: Step[] = [];
  readonly #index = new Map<string, number>();

  /** Use `courier.workflow(name?)`. */
  constructor(manager: TaskManager, name?: string) {
    this.#manager = manager;
    this.#name = name === undefined ? null : parse(workflowNameSchema, name, 'workflow', 'name');
  }

  /**
   * Adds a step: a task (definition or registered name) with its payload and
   * options. Validates at once (a {@link ValidationError} names `steps.<name>.…`);
   * returns the builder, so steps chain.
   */
  step<P>(name: string, task: TaskDefinition<P, string, any>, payload: P, options?: StepOptions): this;
  step(name: string, task: string, payload?: unknown, options?: StepOptions): this;
  step(name: string, task: string | TaskDefinition<any, string, any>, payload?: unknown, options: StepOptions = {}): this {
    const checked = parse(stepNameSchema, name, 'workflow.step', 'name');
    if (this.#index.has(checked)) throw new ValidationError('workflow.step', 'name', `must be unique in the workflow; "${checked}" is taken`);
    const { dependsOn = [], ...rest } = options ?? {};
    if (!Array.isArray(dependsOn)) throw new ValidationError('workflow.step', `steps.${checked}.dependsOn`, 'must be an array of step names, { step, onFailure } or { id, onFailure }');
    const row = this.#manager.prepareRow(task, payload, rest, 'workflow.step', `steps.${checked}.`);
    this.#index.set(checked, this.#steps.length);
    this.#steps.push({ name: checked, row, parents: dependsOn });
    return this;
  }

  /**
   * Enqueues every step in one transaction (the caller's, with `tx`) and returns
   * the workflow id and each step's task id. Steps without parents are queued at
   * once; the others wait. Throws a {@link ValidationError} for an unknown step
   * name or a cycle, writing nothing.
   */
  async enqueue(options: { tx?: unknown } = {}): Promise<EnqueuedWorkflow> {
    if (this.#steps.length === 0) throw new ValidationError('workflow.enqueue', 'steps', 'must hold at least one step (add them with step())');
    const nodes = this.#steps.map((s): GraphNode => ({ label: `steps.${s.name}`, parents: s.parents.map((p, i) => this.#edge(s, p, i)) }));
    const { ids, workflowId } = await this.#manager.insertWith(options.tx, 'workflow.enqueue', (pool, runner, names) =>
      insertGraph(pool, runner, names, {
        rows: this.#steps.map((s) => s.row),
        nodes,
        steps: this.#steps.map((s) => s.name),
        workflow: { kind: 'workflow', name: this.#name },
        where: 'workflow.enqueue',
      }),
    );
    return { id: workflowId as string, tasks: Object.fromEntries(this.#steps.map((s, i) => [s.name, ids[i] as string])) };
  }

  #edge(step: Step, parent: StepParent, i: number): ParentRef {
    const field = `steps.${step.name}.dependsOn.${i}`;
    const ref = typeof parent === 'string' ? { step: parent } : parent;
    if (typeof ref !== 'object' || ref === null) throw new ValidationError('workflow.enqueue', field, 'must be a step name, { step, onFailure } or { id, onFailure }');
    const policy = ref.onFailure ?? 'fail';
    if (!['fail', 'run', 'skip'].includes(policy)) throw new ValidationError('workflow.enqueue', `${field}.onFailure`, 'must be "fail", "run" or "skip"');
    if ('id' in ref) {
      if (typeof ref.id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(ref.id)) throw new ValidationError('workflow.enqueue', `${field}.id`, 'must be a task id (a string of digits)');
      return { id: ref.id, policy };
    }
    const local = this.#index.get(ref.step);
    if (local === undefined) throw new ValidationError('workflow.enqueue', field, `must name a step of this workflow; there is no step "${String(ref.step).slice(0, 100)}"`);
    return { local, policy };
  }
}
