import { afterAll, beforeAll } from 'vitest';
import { type PostgresCluster, type StartOptions, startPostgres } from './postgres.js';

/**
 * One cluster for the enclosing suite (file or describe block), started in beforeAll and stopped in
 * afterAll. Returns a getter because the cluster does not exist yet while vitest collects the suite:
 *
 *   const pg = usePostgres({ tls: true });
 *   it('…', async () => { await connect(pg().url('scram')); });
 */
export function usePostgres(options?: StartOptions): () => PostgresCluster {
  let cluster: PostgresCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres(options);
  });
  afterAll(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  return () => {
    if (!cluster) {
      throw new Error(
        'usePostgres(): the cluster exists only inside the tests and hooks of the suite that declared it',
      );
    }
    return cluster;
  };
}
