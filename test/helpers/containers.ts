/**
 * Starts Postgres in Docker through testcontainers (an optional dev tool: install
 * `@testcontainers/postgresql` where Docker exists).
 */
export async function startContainerPostgres(): Promise<{ connectionString: string; stop: () => Promise<void> }> {
  const moduleName = '@testcontainers/postgresql';
  const mod = (await import(moduleName).catch(() => {
    throw new Error('PGCOURIER_TEST_CONTAINERS=1 needs `npm install -D @testcontainers/postgresql` and a running Docker');
  })) as { PostgreSqlContainer: new (image: string) => { start(): Promise<{ getConnectionUri(): string; stop(): Promise<unknown> }> } };
  const container = await new mod.PostgreSqlContainer(`postgres:${process.env.PGCOURIER_PG_VERSION ?? '18'}`).start();
  return { connectionString: container.getConnectionUri(), stop: async () => void (await container.stop()) };
}
