import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../harness/postgres.js';
import { startPgwarden } from '../processes/pgwarden.js';
import { runScript, type Scope } from '../processes/scope.js';
import { hottestFunctions, newestProfile } from './cpu-profile.js';
import { measureDecisionCost } from './decision-cost.js';
import { runMaskedStream } from './masked-stream.js';
import { runMatrix } from './matrix.js';
import { readOptions, usage } from './options.js';
import { initPgbench } from './pgbench.js';
import { locatePgbouncer, pgbouncerVersion, startPgbouncer } from './pgbouncer.js';
import { startRecordingProxy } from './recording.js';
import { type BenchReport, checkTargets, renderText, summarize } from './report.js';
import { writeResults } from './results-file.js';
import { benchPolicyEngine, benchPolicyPath } from './sidecar.js';
import { runStream, streamRows } from './stream.js';
import type { Target } from './targets.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

async function bench(scope: Scope): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(usage);
    return;
  }
  const options = readOptions(process.argv.slice(2), process.env);
  const startedAt = new Date();
  const started = performance.now();
  const loadBefore = loadavg();
  const pgbouncerBinary = await locatePgbouncer();
  // A maxRows below the stream's rows would cut it short and flatter the policy target.
  const engine = benchPolicyEngine();
  const maxRows = engine.policy.limits.maxRows;
  if (maxRows !== null && maxRows < streamRows)
    throw new Error(`${benchPolicyPath}: limits.maxRows must be at least ${streamRows}, the streamed rows`);

  // First, while nothing else of the benchmark runs on the machine.
  process.stdout.write('Measuring the decision cost in-process…\n');
  const decisionCost = await measureDecisionCost(engine);

  process.stdout.write(
    'Starting PostgreSQL, PgBouncer and pgwarden (without a policy, with one, with one that records)…\n',
  );
  const cluster = await startPostgres({
    // pgbench's 8 clients on four paths, plus PgBouncer's pool, stay well under 200.
    settings: { max_connections: '200', shared_buffers: '128MB' },
  });
  scope.defer('postgres', () => cluster.stop());
  await initPgbench(cluster, 1);
  const pgbouncer = await startPgbouncer(scope, pgbouncerBinary, cluster);
  const proxyOptions = {
    upstreamUrl: cluster.url('superuser', { sslmode: 'disable' }),
    logLevel: 'warn',
    admin: false,
  } as const;
  const proxy = await startPgwarden(scope, {
    ...proxyOptions,
    policy: 'none',
    cpuProfDir: options.cpuProfDir,
  });
  const policyProxy = await startPgwarden(scope, { ...proxyOptions, policy: benchPolicyPath });
  const recording = await startRecordingProxy(scope, proxyOptions);
  const targets: Target[] = [
    { name: 'direct', endpoint: { port: cluster.port, ...cluster.superuser }, middlePid: undefined },
    {
      name: 'pgbouncer',
      endpoint: { port: pgbouncer.port, user: cluster.superuser.user },
      middlePid: pgbouncer.pid,
    },
    { name: 'pgwarden', endpoint: { port: proxy.port, user: cluster.superuser.user }, middlePid: proxy.pid },
    {
      name: 'pgwarden+policy',
      endpoint: { port: policyProxy.port, user: cluster.superuser.user },
      middlePid: policyProxy.pid,
    },
    {
      name: 'pgwarden+policy+recording',
      endpoint: { port: recording.proxy.port, user: cluster.superuser.user },
      middlePid: recording.proxy.pid,
      recording: recording.dirs,
    },
  ];

  const estimate = (4 * targets.length * options.rounds * options.seconds) / 60;
  process.stdout.write(`pgbench matrix: about ${estimate.toFixed(1)} min\n`);
  const samples = await runMatrix(cluster, targets, options);
  process.stdout.write('Streaming 1M rows through each path…\n');
  const stream = await runStream(cluster, targets, options.rounds);
  process.stdout.write('Streaming 1M rows of a table with masked columns…\n');
  const maskedStream = await runMaskedStream(scope, cluster, targets[2] as Target, options.rounds);

  let hotFunctions: BenchReport['hotFunctions'];
  if (options.cpuProfDir) {
    // The profile is written when the proxy exits.
    await proxy.stop();
    const profile = await newestProfile(options.cpuProfDir, startedAt.getTime());
    if (!profile) throw new Error(`the proxy wrote no .cpuprofile into ${options.cpuProfDir}`);
    process.stdout.write(`CPU profile: ${profile}\n`);
    hotFunctions = await hottestFunctions(profile, 20, repoRoot);
  }

  const rows = summarize(samples);
  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round((performance.now() - started) / 1000),
    machine: {
      cpus: cpus().length,
      loadBefore,
      loadAfter: loadavg(),
      versions: {
        node: process.version,
        postgres: await cluster.psql('show server_version'),
        pgbouncer: pgbouncerVersion(pgbouncerBinary).replace(/^PgBouncer /, ''),
      },
    },
    options: { seconds: options.seconds, rounds: options.rounds },
    rows,
    checks: checkTargets(rows),
    stream,
    maskedStream,
    decisionCost,
    hotFunctions,
    samples,
  };
  process.stdout.write(`\n${renderText(report)}`);
  for (const [name, service] of [
    ['pgwarden', proxy],
    ['pgwarden+policy', policyProxy],
    ['pgwarden+policy+recording', recording.proxy],
  ] as const) {
    const log = service.output().trim();
    if (log) process.stdout.write(`\n${name} logged (warn and above):\n${log}\n`);
  }
  process.stdout.write(`\nResults: ${await writeResults(report)} (and .json)\n`);
}

await runScript('bench', bench);
