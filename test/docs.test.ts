import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('docs stay true', () => {
  it('docs/configuration.md matches the zod schemas', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'config-docs.ts'), '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the README gives the two set-up commands that package.json defines', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(readme).toContain('npm install && npm test');
    expect(readme).toContain('npm run demo');
    expect(pkg.scripts.test).toBeDefined();
    expect(pkg.scripts.demo).toBeDefined();
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
  });
});
