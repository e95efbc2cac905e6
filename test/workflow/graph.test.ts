import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GraphNode, initialStates, topologicalOrder } from '../../src/workflow/graph.js';

const node = (label: string, parents: GraphNode['parents'] = [], callback?: GraphNode['callback']): GraphNode => ({ label, parents, callback });

describe('topologicalOrder', () => {
  it('puts every node after its local parents, for any acyclic graph', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: 1, maxLength: 40 }), (edges) => {
        // Parents always have a smaller index: acyclic by construction; then shuffle the labels' order.
        const nodes = edges.map((ps, i) => node(`n${i}`, i === 0 ? [] : ps.map((p) => ({ local: p % i, policy: 'fail' as const }))));
        const order = topologicalOrder(nodes, 'test');
        expect([...order].sort((a, b) => a - b)).toEqual(nodes.map((_, i) => i));
        const at = new Map(order.map((n, k) => [n, k]));
        for (const [i, n] of nodes.entries()) for (const e of n.parents) if ('local' in e) expect(at.get(e.local) as number).toBeLessThan(at.get(i) as number);
      }),
    );
  });

  it('refuses a cycle and a self-edge, naming a step on it', () => {
    const cycle = [node('a', [{ local: 2, policy: 'fail' }]), node('b', [{ local: 0, policy: 'fail' }]), node('c', [{ local: 1, policy: 'fail' }])];
    expect(() => topologicalOrder(cycle, 'wf')).toThrow(/"(a|b|c)\.dependsOn" must not form a cycle/);
    expect(() => topologicalOrder([node('a', [{ local: 0, policy: 'fail' }])], 'wf')).toThrow(/cycle/);
  });

  it('walks a 100,000-step chain without overflowing the stack', () => {
    const nodes = Array.from({ length: 100_000 }, (_, i) => node(`s${i}`, i === 0 ? [] : [{ local: i - 1, policy: 'fail' }]));
    expect(topologicalOrder(nodes, 'wf')).toHaveLength(100_000);
  });
});

describe('initialStates', () => {
  it('waits on live parents, applies policies of finished ones, and cascades through new nodes', () => {
    const external = new Map([
      ['10', 'succeeded'],
      ['11', 'failed'],
      ['12', 'running'],
      ['13', 'cancelled'],
    ] as const);
    const nodes = [
      node('ok', [{ id: '10', policy: 'fail' }]),
      node('wait', [{ id: '12', policy: 'fail' }, { id: '10', policy: 'fail' }]),
      node('fails', [{ id: '11', policy: 'fail' }]),
      node('skips', [{ id: '11', policy: 'skip' }]),
      node('runs', [{ id: '11', policy: 'run' }]),
      node('cancelled', [{ id: '13', policy: 'fail' }]),
      node('after-fail', [{ local: 2, policy: 'fail' }]),
      node('after-wait', [{ local: 1, policy: 'fail' }]),
      node('onFailure-none-failed', [{ id: '10', policy: 'run' }], 'failure'),
    ];
    const states = initialStates(nodes, topologicalOrder(nodes, 'wf'), external);
    expect(states.map((s) => [s.status, s.pending, s.failed])).toEqual([
      ['queued', 0, 0],
      ['waiting', 1, 0],
      ['failed', 0, 0],
      ['cancelled', 0, 0],
      ['queued', 0, 1],
      ['cancelled', 0, 0],
      ['failed', 0, 0],
      ['waiting', 1, 0],
      ['cancelled', 0, 0],
    ]);
    expect(states[6]?.error).toBe('step fails failed');
    expect(states[3]?.error).toBe('skipped: parent task 11 failed');
  });
});
