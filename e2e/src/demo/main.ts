import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { startPostgres } from '../harness/postgres.js';
import { startPgwarden } from '../processes/pgwarden.js';
import { runScript, type Scope } from '../processes/scope.js';
import { decideHeld } from './approver.js';
import { type DemoSetup, interactiveBanner, scriptedBanner } from './banner.js';
import { clientMessageMetrics } from './metrics.js';
import { connectionUrl, interactivePsql, scriptedPsql } from './psql.js';
import { replaySession } from './replay.js';
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
  const work = await mkdtemp(join(tmpdir(), 'pgwarden-demo-'));
  scope.defer('demo directory', () => rm(work, { recursive: true, force: true }));
  const approvalDir = join(work, 'approvals');
  const recordings = join(work, 'recordings');
  const policy = join(work, 'policy.yaml');
  await writeFile(policy, await recordingPolicy(recordings));
  const proxy = await startPgwarden(scope, {
    approvalDir,
    policy,
    upstreamUrl: cluster.url('scram', { sslmode: 'disable' }),
    logLevel: 'info',
    admin: true,
    // The policy's masking.hashKey names this variable; a throwaway key for a throwaway database.
    env: {
      PGWARDEN_HASH_KEY: randomBytes(24).toString('base64'),
      // Where recording chunks wait (fsync'd) until the sink directory has them.
      PGWARDEN_SPOOL_DIR: join(work, 'spool'),
    },
  });
  const setup: DemoSetup = {
    postgresPort: cluster.port,
    proxyPort: proxy.port,
    adminPort: proxy.adminPort as number,
    approvalPort: proxy.approvalPort as number,
    upstreamRole: appRole,
    policyFile: relative(process.cwd(), demoPolicy),
    recordings,
  };
  try {
    if (process.stdin.isTTY) {
      process.stdout.write(`\n${interactiveBanner(setup)}\n`);
      await interactivePsql(scope, cluster, proxy.port);
      const last = await replaySession(recordings, undefined, -1);
      process.stdout.write(`\nYour last session, as recorded:\n$ ${last.command}\n${last.transcript}\n`);
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
  const replayed = walkthrough.findIndex((step) => step.replay);
  const replay = await replaySession(setup.recordings, walkthrough.length, replayed);
  process.stdout.write(`${heading(`${walkthrough.length + 1}. Replay: what the agent did, as recorded`)}\n`);
  process.stdout.write(
    "Each psql session above is a recording: hash-chained, gzip'd JSON chunks in the sink directory,\n" +
      'checked end to end by --verify. The masked values are all it holds: the real ones never left PostgreSQL.\n\n',
  );
  process.stdout.write(`$ pnpm pgwarden replay ${setup.recordings} --verify\n${replay.verified}\n`);
  process.stdout.write(`$ ${replay.command}\n${replay.transcript}\n`);
  const missing = [/approval approved for #\d+ .*by alice/, /DELETE 12 /].filter(
    (pattern) => !pattern.test(replay.transcript),
  );
  if (missing.length > 0) throw new Error(`the replayed recording did not show ${missing.join(', ')}`);
  process.stdout.write(`${heading(`${walkthrough.length + 2}. What the proxy counted`)}\n`);
  process.stdout.write(`GET http://127.0.0.1:${setup.adminPort}/metrics, client messages by type:\n`);
  process.stdout.write(`${(await clientMessageMetrics(setup.adminPort)).join('\n')}\n\n`);
  process.stdout.write(`${heading('Your turn')}\n${yourTurn()}\n`);
}

/** The example policy plus spec.recording into `sinkDir`, as YAML. */
async function recordingPolicy(sinkDir: string): Promise<string> {
  const document = parse(await readFile(demoPolicy, 'utf8')) as { spec: Record<string, unknown> };
  document.spec.recording = { sink: { type: 'dir', path: sinkDir }, flushInterval: '200ms' };
  return stringify(document);
}

/** How to do the same by hand, in a terminal. */
function yourTurn(): string {
  return [
    'Run `make demo` in a terminal: it hands you psql through the proxy, with the same data and policy.',
    'Or run the pieces yourself against your own PostgreSQL:',
    '',
    '  pnpm pgwarden proxy --listen 127.0.0.1:6432 --policy examples/policies/read-write-with-approvals.yaml \\',
    '    --approval-dir /tmp/approvals --approval-listen 127.0.0.1:6433 \\',
    "    --upstream 'postgresql://app:secret@127.0.0.1:5432/app'      # PGWARDEN_HASH_KEY=… for the hash masks",
    `  psql '${connectionUrl(6432)}'`,
    '  pnpm pgwarden approvals list --api 127.0.0.1:6433               # in a second terminal',
    '  pnpm pgwarden approvals approve ID --as alice --api 127.0.0.1:6433',
    '  pnpm pgwarden replay /var/lib/pgwarden/recordings --session latest  # the dir sink of spec.recording',
    '',
    'docs/quickstart.md walks through it; docs/policy.md is the policy reference.',
    '',
  ].join('\n');
}

function heading(text: string): string {
  return `── ${text} ${'─'.repeat(Math.max(3, 76 - text.length))}`;
}

await runScript('demo', demo);
