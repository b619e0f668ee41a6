import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../harness/postgres.js';
import { startPgwarden } from '../processes/pgwarden.js';
import { runScript, type Scope } from '../processes/scope.js';
import { decideHeld } from './approver.js';
import { type DemoSetup, interactiveBanner, scriptedBanner } from './banner.js';
import { clientMessageMetrics } from './metrics.js';
import { interactivePsql, scriptedPsql } from './psql.js';
import { walkthrough } from './walkthrough.js';

// tsc does not copy .sql files; this resolves to the source copy from e2e/src/demo/ and e2e/dist/demo/ alike.
const sampleSql = new URL('../../src/demo/sample.sql', import.meta.url);
// The example policy from the docs: reads allowed, schema changes denied, writes held for approval.
const demoPolicy = fileURLToPath(
  new URL('../../../examples/policies/read-write-with-approvals.yaml', import.meta.url),
);

async function demo(scope: Scope): Promise<void> {
  process.stdout.write(
    'Starting a throwaway PostgreSQL with sample data and the pgwarden proxy in front of it…\n',
  );
  const cluster = await startPostgres();
  scope.defer('postgres', () => cluster.stop());
  // The application role owns its tables, as it would in production; the proxy logs in as it.
  const appRole = cluster.users.scram.user;
  await cluster.psql(`SET ROLE ${appRole};\n${await readFile(sampleSql, 'utf8')}`);
  const approvalDir = await mkdtemp(join(tmpdir(), 'pgwarden-demo-approvals-'));
  scope.defer('approval requests', () => rm(approvalDir, { recursive: true, force: true }));
  const proxy = await startPgwarden(scope, {
    approvalDir,
    policy: demoPolicy,
    upstreamUrl: cluster.url('scram', { sslmode: 'disable' }),
    logLevel: 'info',
    admin: true,
    // The policy's masking.hashKey names this variable; a throwaway key for a throwaway database.
    env: { PGWARDEN_HASH_KEY: randomBytes(24).toString('base64') },
  });
  const setup: DemoSetup = {
    postgresPort: cluster.port,
    proxyPort: proxy.port,
    adminPort: proxy.adminPort as number,
    approvalPort: proxy.approvalPort as number,
    upstreamRole: appRole,
    policyFile: relative(process.cwd(), demoPolicy),
  };
  try {
    if (process.stdin.isTTY) {
      process.stdout.write(`\n${interactiveBanner(setup)}\n`);
      await interactivePsql(scope, cluster, proxy.port);
    } else {
      process.stdout.write(`\n${scriptedBanner(setup)}\n`);
      await scripted(cluster, setup);
    }
  } catch (error) {
    const log = proxy.output().trim().split('\n').slice(-20).join('\n');
    throw new Error(`${(error as Error).message}\nlast lines of the proxy's log:\n${log}`);
  }
  process.stdout.write('Stopping the proxy and PostgreSQL.\n');
}

async function scripted(cluster: Awaited<ReturnType<typeof startPostgres>>, setup: DemoSetup): Promise<void> {
  for (const [index, step] of walkthrough.entries()) {
    process.stdout.write(`${heading(`${index + 1}. ${step.title}`)}\n${step.note}\n\n`);
    const session = scriptedPsql(cluster, setup.proxyPort, step.statements);
    const approver = step.decisions ? decideHeld(setup.approvalPort, step.decisions, session) : null;
    const output = await session;
    process.stdout.write(output);
    if (approver) process.stdout.write(`\nMeanwhile, the approver in another terminal:\n${await approver}\n`);
    const missing = step.expect.filter((pattern) => !pattern.test(output));
    if (missing.length > 0) throw new Error(`step "${step.title}" did not show ${missing.join(', ')}`);
  }
  process.stdout.write(`${heading(`${walkthrough.length + 1}. What the proxy counted`)}\n`);
  process.stdout.write(`GET http://127.0.0.1:${setup.adminPort}/metrics, client messages by type:\n`);
  process.stdout.write(`${(await clientMessageMetrics(setup.adminPort)).join('\n')}\n\n`);
}

function heading(text: string): string {
  return `── ${text} ${'─'.repeat(Math.max(3, 76 - text.length))}`;
}

await runScript('demo', demo);
