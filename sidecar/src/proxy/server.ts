import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { startAdminServer } from '../admin/http.js';
import { ensureParserLoaded } from '../analyze/parser.js';
import { startApprovalApi } from '../approve/api.js';
import { Approvals } from '../approve/approvals.js';
import { RemoteApprovals } from '../approve/remote-approvals.js';
import { ApprovalStore } from '../approve/store.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import { describeEndpoint } from '../config/upstream-url.js';
import { ProxyErrors } from '../errors/proxy-errors.js';
import { GrantAccess } from '../grant/grant-access.js';
import { OidcAccess } from '../identity/oidc-access.js';
import type { Logger } from '../observe/log.js';
import { ProxyMetrics } from '../observe/metrics.js';
import { CancelRegistry } from '../session/cancel.js';
import { scramVerifier } from '../session/scram.js';
import type { AccessSource } from './access.js';
import { handleClient, type ProxyContext } from './client-connection.js';
import type { Relay } from './relay.js';
import { StaticAccess } from './static-access.js';

export interface RunningProxy {
  address: AddressInfo;
  adminAddress: AddressInfo | null;
  /** The approval API's address; null when no policy can hold statements here (no spec.approval, or grant mode without --approval-dir). */
  approvalAddress: AddressInfo | null;
  metrics: ProxyMetrics;
  /**
   * Stops accepting, lets sessions finish what is in flight (each is closed
   * with 57P01 as soon as it is idle), and closes the rest at the deadline.
   */
  drain(timeoutMs?: number): Promise<void>;
}

export async function startProxy(config: Readonly<ProxyConfig>, log: Logger): Promise<RunningProxy> {
  // Grant and OIDC mode choose policies per connection: any of them may need the parser and approvals.
  const perConnection = config.access.mode !== 'static';
  if (perConnection || config.access.policy) await ensureParserLoaded();
  else log.warn('no policy (--policy none): every statement is forwarded unchecked');
  const sessions = new Set<Relay>();
  let draining = false;
  let nextConnId = 1;
  const metrics = new ProxyMetrics();
  const approvals =
    config.approvalDir && (perConnection || config.access.policy?.approval)
      ? new Approvals(await ApprovalStore.open(config.approvalDir), log.child({ component: 'approvals' }))
      : null;
  // Before listening: a spool another sidecar holds, or a sink that cannot be set up, stops the start.
  const access = await openAccess(config, approvals, log, metrics);
  const ctx: ProxyContext = {
    config,
    log,
    metrics,
    cancels: new CancelRegistry(),
    clientVerifier: config.clientAuth.password ? scramVerifier(config.clientAuth.password.reveal()) : null,
    sessions,
    access,
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
      void access.close({ shipTimeoutMs: 0 });
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
      ready: () => !draining && server.listening && access.ready(),
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
      clientAuth: config.clientAuth.method,
      ...describeAccess(config.access),
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
    await closed;
    await access.close({ shipTimeoutMs: Math.min(timeoutMs, RECORDING_SHIP_TIMEOUT_MS) });
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

async function openAccess(
  config: Readonly<ProxyConfig>,
  approvals: Approvals | null,
  log: Logger,
  metrics: ProxyMetrics,
): Promise<AccessSource> {
  const { access } = config;
  if (access.mode === 'static') {
    return StaticAccess.open(access.upstream, access.policy, config.spoolDir, approvals, log, metrics);
  }
  if (access.mode === 'oidc')
    return OidcAccess.open(access, { spoolDir: config.spoolDir, approvals, log, metrics });
  // The operator keeps the approvals (QueryApprovals), reached like the grant API, unless --approval-dir keeps them here.
  const remote = { origin: access.grantUrl, caPem: access.caPem, tokenFile: access.tokenFile };
  const grantApprovals = approvals ?? new RemoteApprovals(remote, log.child({ component: 'approvals' }));
  return GrantAccess.start(access, { spoolDir: config.spoolDir, approvals: grantApprovals, log, metrics });
}

/** The start line's account of where access comes from; never a credential. */
function describeAccess(access: ProxyConfig['access']): Record<string, unknown> {
  if (access.mode === 'grant') return { mode: 'grant', grantUrl: access.grantUrl.href, pod: access.pod };
  if (access.mode === 'oidc') {
    return {
      mode: 'oidc',
      upstream: describeEndpoint(access.upstream.endpoint),
      issuer: access.oidc.issuer,
      rules: access.rules.map(({ rule, policy }) => ({
        rule: rule.name,
        policy: policy.name,
        hash: policy.hash,
      })),
    };
  }
  const { endpoint } = access.upstream;
  const policy = access.policy;
  return {
    upstream: describeEndpoint(endpoint),
    sslmode: endpoint.sslMode,
    policy: policy ? { name: policy.name, hash: policy.hash, access: policy.access } : null,
  };
}
