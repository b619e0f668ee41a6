import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { startAdminServer } from '../admin/http.js';
import { analyze, createAnalyzer, ensureParserLoaded } from '../analyze/parser.js';
import { startApprovalApi } from '../approve/api.js';
import { Approvals } from '../approve/approvals.js';
import { ApprovalStore } from '../approve/store.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import { describeEndpoint } from '../config/upstream-url.js';
import { PolicyEngine } from '../decide/engine.js';
import { PolicyEnforcement, pinnedSessionSettings } from '../enforce/policy-enforcement.js';
import { ProxyErrors } from '../errors/proxy-errors.js';
import { Masking } from '../mask/masking.js';
import type { Logger } from '../observe/log.js';
import { ProxyMetrics } from '../observe/metrics.js';
import { Recorder } from '../record/recorder.js';
import { CancelRegistry } from '../session/cancel.js';
import { CatalogLookup } from '../session/catalog.js';
import { scramVerifier } from '../session/scram.js';
import { sidecarVersion } from '../version.js';
import { handleClient, type ProxyContext } from './client-connection.js';
import type { Relay } from './relay.js';

/** The statement analysis for policies without masking (shares nothing with `analyze`'s cache). */
const analyzeWithoutColumns = createAnalyzer({ columnUsage: false });

export interface RunningProxy {
  address: AddressInfo;
  adminAddress: AddressInfo | null;
  /** The approval API's address; null when the policy has no spec.approval. */
  approvalAddress: AddressInfo | null;
  metrics: ProxyMetrics;
  /**
   * Stops accepting, lets sessions finish what is in flight (each is closed
   * with 57P01 as soon as it is idle), and closes the rest at the deadline.
   */
  drain(timeoutMs?: number): Promise<void>;
}

export async function startProxy(config: Readonly<ProxyConfig>, log: Logger): Promise<RunningProxy> {
  if (config.policy) await ensureParserLoaded();
  else log.warn('no policy (--policy none): every statement is forwarded unchecked');
  const sessions = new Set<Relay>();
  let draining = false;
  let nextConnId = 1;
  const metrics = new ProxyMetrics();
  // Before listening: a spool another sidecar holds, or a sink that cannot be set up, stops the start.
  const recorder = await openRecorder(config, log);
  if (recorder) metrics.observeRecorder(() => recorder.stats());
  const approvals =
    config.policy?.approval && config.approvalDir
      ? new Approvals(await ApprovalStore.open(config.approvalDir), log.child({ component: 'approvals' }))
      : null;
  const catalog = config.policy
    ? new CatalogLookup(config.upstream, pinnedSessionSettings(config.policy), log)
    : null;
  const ctx: ProxyContext = {
    config,
    log,
    metrics,
    cancels: new CancelRegistry(),
    clientVerifier: config.clientAuth.password ? scramVerifier(config.clientAuth.password.reveal()) : null,
    sessions,
    enforcement: policyEnforcement(config, catalog, log, metrics, approvals),
    recorder,
    isDraining: () => draining,
    active: { count: 0 },
  };
  const open = new Set<import('node:net').Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    void handleClient(socket, ctx, nextConnId++);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      void recorder?.close({ shipTimeoutMs: 0 });
      reject(err);
    });
    server.listen({ host: config.listen.host, port: config.listen.port, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let admin: { server: HttpServer; address: AddressInfo } | null = null;
  if (config.adminListen) {
    admin = await startAdminServer(config.adminListen, metrics.registry, {
      healthy: () => true,
      ready: () => !draining && server.listening,
    });
  }
  const approvalApi = approvals
    ? await startApprovalApi(config.approvalListen, approvals, log.child({ component: 'approvals' }))
    : null;
  log.info(
    {
      listen: `${address.address}:${address.port}`,
      approvals: approvalApi ? `${approvalApi.address.address}:${approvalApi.address.port}` : null,
      admin: admin ? `${admin.address.address}:${admin.address.port}` : null,
      upstream: describeEndpoint(config.upstream.endpoint),
      sslmode: config.upstream.endpoint.sslMode,
      clientAuth: config.clientAuth.method,
      policy: config.policy
        ? { name: config.policy.name, hash: config.policy.hash, access: config.policy.access }
        : null,
    },
    'pgwarden proxy listening',
  );

  async function drain(timeoutMs = config.drainTimeoutMs): Promise<void> {
    if (draining) return;
    draining = true;
    log.info(
      { sessions: sessions.size, timeoutMs },
      'draining: no new connections, closing sessions as they become idle',
    );
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sessions) s.shutdown();
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref());
    const idle = (async () => {
      while (sessions.size > 0) await Promise.race([...sessions].map((s) => s.finished));
    })();
    if ((await Promise.race([idle, deadline])) === 'timeout') {
      log.warn({ sessions: sessions.size }, 'drain deadline reached: closing remaining sessions');
      for (const s of sessions) s.terminate(ProxyErrors.shuttingDown(), 'shutdown');
    }
    for (const socket of open) socket.destroy();
    catalog?.close();
    await closed;
    if (recorder) {
      // Every session has been sealed; give the shipper a bounded time to empty the spool.
      const { shipped } = await recorder.close({
        shipTimeoutMs: Math.min(timeoutMs, RECORDING_SHIP_TIMEOUT_MS),
      });
      log.info({ shipped }, 'recordings sealed');
    }
    if (admin) await new Promise<void>((resolve) => admin?.server.close(() => resolve()));
    if (approvalApi) await new Promise<void>((resolve) => approvalApi.server.close(() => resolve()));
    log.info('drained');
  }

  return {
    address,
    adminAddress: admin?.address ?? null,
    approvalAddress: approvalApi?.address ?? null,
    metrics,
    drain,
  };
}

/** How long a drain waits for the spool to ship; what is left ships at the next start. */
const RECORDING_SHIP_TIMEOUT_MS = 10_000;

async function openRecorder(config: Readonly<ProxyConfig>, log: Logger): Promise<Recorder | null> {
  const settings = config.policy?.recording;
  if (!settings) {
    if (config.spoolDir)
      log.warn({ spoolDir: config.spoolDir }, 'the policy records nothing; --spool-dir is unused');
    return null;
  }
  if (!config.spoolDir) throw new Error('recording needs a spool directory');
  const recorder = await Recorder.open({
    settings,
    spoolDir: config.spoolDir,
    sidecarVersion: sidecarVersion(),
    log: log.child({ component: 'recorder' }),
  });
  log.info(
    { spoolDir: config.spoolDir, sink: settings.sink.type, includeRows: settings.includeRows },
    'recording sessions',
  );
  return recorder;
}

function policyEnforcement(
  config: Readonly<ProxyConfig>,
  catalog: CatalogLookup | null,
  log: Logger,
  metrics: ProxyMetrics,
  approvals: Approvals | null,
): PolicyEnforcement | null {
  if (!config.policy || !catalog) return null;
  const masking = config.policy.masking
    ? new Masking(config.policy.masking, (sql) => catalog.rows(sql), analyze, log, metrics)
    : null;
  // Without masking nothing reads column usage; skipping it saves a tree walk per parsed statement.
  const analyzer = masking ? analyze : analyzeWithoutColumns;
  return new PolicyEnforcement(
    config.policy,
    new PolicyEngine(config.policy),
    analyzer,
    (oid) => catalog.functionName(oid),
    masking,
    approvals,
  );
}
