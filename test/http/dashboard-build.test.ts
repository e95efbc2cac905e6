import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardScript } from '../../src/http/dashboard/script.js';

const root = join(import.meta.dirname, '..', '..');

describe('the dashboard script', () => {
  it('script.ts is the compiled client.ts (npm run build regenerates it)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'build-dashboard.ts'), '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('is plain browser JavaScript that cannot close its <script> element', () => {
    expect(dashboardScript).not.toMatch(/<\/script/i);
    expect(dashboardScript).not.toMatch(/\binterface\b|: HTMLElement|\bas const\b/);
    expect(() => new Function(dashboardScript)).not.toThrow();
  });
});
