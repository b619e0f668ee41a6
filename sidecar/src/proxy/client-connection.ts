import type { Socket } from 'node:net';
import type { SessionEndReason } from '@pgwarden/crds';
import type { Requester } from '../approve/session-approvals.js';
import type { ProxyConfig } from '../config/proxy-config.js';
import { describeEndpoint } from '../config/upstream-url.js';
import { ProxyErrors, UpstreamFailure } from '../errors/proxy-errors.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { SessionTap } from '../record/session-tap.js';
import { type CancelRegistry, forwardCancel, type UpstreamBackend } from '../session/cancel.js';
import { acceptClient, encodeAuthenticationOk, encodeBackendKeyData } from '../session/client-handshake.js';
import type { ScramVerifier } from '../session/scram.js';
import { connectUpstream } from '../session/upstream.js';
import { PgError } from '../wire/error-response.js';
import { ProtocolViolation } from '../wire/reader.js';
import { ConnectionClosed, SocketReader } from '../wire/socket-reader.js';
import type { AccessSource, SessionAccess } from './access.js';
import { Relay, type RelayEnd } from './relay.js';

/** ReadyForQuery, idle: the first one the client sees comes from the proxy. */
const READY_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

/** Terminate, sent upstream when a session set up during a drain is given up. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/** Clients that do not finish the startup phase in time are dropped, as PostgreSQL's authentication_timeout does. */
const STARTUP_TIMEOUT_MS = 60_000;

export interface ProxyContext {
  config: Readonly<ProxyConfig>;
  log: Logger;
  metrics: ProxyMetrics;
  cancels: CancelRegistry;
  clientVerifier: ScramVerifier | null;
  /** Sessions past the handshake, for draining. */
  sessions: Set<Relay>;
  isDraining(): boolean;
  /** Decides each connection's policy, upstream and recording. */
  access: AccessSource;
  /** Sessions counted against --max-connections. */
  active: { count: number };
}

/** Runs one client connection from its first byte to close. Never throws. */
export async function handleClient(socket: Socket, ctx: ProxyContext, connId: number): Promise<void> {
  const log = ctx.log.child({ conn: connId, client: `${socket.remoteAddress}:${socket.remotePort}` });
  socket.setNoDelay(true);
  const reader = new SocketReader(socket);
  const startupTimer = setTimeout(() => socket.destroy(), STARTUP_TIMEOUT_MS);
  let counted = false;
  let access: SessionAccess | null = null;
  try {
    const hello = await acceptClient(socket, reader, ctx.config.clientAuth, ctx.clientVerifier);
    if (hello.kind === 'cancel') {
      clearTimeout(startupTimer);
      socket.destroy();
      await relayCancel(ctx, hello, log);
      return;
    }
    if (ctx.isDraining()) throw ProxyErrors.shuttingDown();
    if (ctx.active.count >= ctx.config.maxConnections)
      throw ProxyErrors.tooManyConnections(ctx.config.maxConnections);
    ctx.active.count++;
    counted = true;
    ctx.metrics.connectionsActive.inc();
    const startedAt = Date.now();
    const clientAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    access = await ctx.access.resolve({
      clientAddress,
      clientUser: hello.clientUser,
      params: hello.params,
      password: hello.password,
    });
    const { enforcement } = access;
    const params = enforcement ? enforcement.sessionParameters(hello.params) : hello.params;
    const masked = enforcement?.masking?.ready();
    if (masked) {
      await masked.catch((err: Error) => {
        throw ProxyErrors.maskingUnavailable(err.message);
      });
    }
    const upstream = await connectUpstream(access.upstream, params);
    clearTimeout(startupTimer);
    if (ctx.isDraining()) {
      // The drain began while the upstream handshake ran. It has already asked every session to
      // close, so this one would otherwise hold it open until the deadline.
      upstream.socket.end(TERMINATE);
      throw ProxyErrors.shuttingDown();
    }
    const upstreamKey = upstream.backendKey ?? { pid: 0, secret: 0 };
    const cancelTarget: UpstreamBackend = { key: upstreamKey, endpoint: access.upstream.endpoint };
    const key = ctx.cancels.issue(cancelTarget);
    socket.cork();
    socket.write(encodeAuthenticationOk());
    for (const m of upstream.greeting) socket.write(m);
    socket.write(encodeBackendKeyData(key.pid, key.secret));
    socket.write(READY_IDLE);
    socket.uncork();
    log.info(
      { clientUser: hello.clientUser, application: hello.params.get('application_name') },
      'session started',
    );
    const tap = startRecording(access, clientAddress, hello.clientUser, hello.params.get('application_name'));
    const requester: Requester = { clientAddress, clientUser: hello.clientUser ?? null };
    const relay = new Relay(socket, upstream.socket, {
      limits: ctx.config,
      metrics: ctx.metrics,
      log,
      upstreamName: describeEndpoint(access.upstream.endpoint),
      enforcement: enforcement?.forSession(log, ctx.metrics, requester) ?? null,
      recording: tap,
    });
    ctx.sessions.add(relay);
    cancelTarget.onCancel = () => relay.cancelHeld();
    let policyHash = enforcement?.policy.hash;
    access.govern({
      retarget: (next) =>
        relay.retarget((state) => {
          const chosen = next(state);
          if (chosen instanceof PgError) return chosen;
          if (chosen.policy.hash !== policyHash) {
            policyHash = chosen.policy.hash;
            tap?.policyChanged(chosen.policy);
          }
          return chosen.forSession(log, ctx.metrics, requester, relay.substitution);
        }),
      end: (error) => {
        relay.terminate(error, 'terminated');
        // Closing the upstream socket does not stop a statement that is running: it would run to
        // the end (and commit) after access ended. A cancel stops it; an idle backend ignores it.
        if (upstream.backendKey) {
          forwardCancel(cancelTarget).catch((err: Error) =>
            log.warn({ reason: err.message }, 'could not cancel the running statement'),
          );
        }
      },
    });
    relay.start(reader.detach(), upstream.leftover);
    const end = await relay.finished;
    void tap?.end(RECORDED_END[end], end === 'terminated' ? relay.endMessage : null);
    ctx.sessions.delete(relay);
    ctx.cancels.release(key);
    ctx.metrics.connectionsTotal.inc({ outcome: end === 'protocol_error' ? 'protocol_error' : 'ok' });
    log.info({ end, durationMs: Date.now() - startedAt }, 'session ended');
  } catch (err) {
    clearTimeout(startupTimer);
    refuse(socket, err, ctx, log);
  } finally {
    access?.release();
    if (counted) {
      ctx.active.count--;
      ctx.metrics.connectionsActive.dec();
    }
  }
}

/** How a relay's end reads in a recording. */
const RECORDED_END: Record<RelayEnd, SessionEndReason> = {
  client_closed: 'client-closed',
  upstream_closed: 'upstream-closed',
  protocol_error: 'error',
  shutdown: 'shutdown',
  terminated: 'terminated',
};

/** The session's recording, started with who connected and where to; never a credential. */
function startRecording(
  access: SessionAccess,
  clientAddress: string,
  clientUser: string | null | undefined,
  applicationName: string | undefined,
): SessionTap | null {
  const policy = access.enforcement?.policy;
  if (!access.recorder || !policy) return null;
  const { host, port, database, user } = access.upstream.endpoint;
  const session = access.recorder.sessionStart({
    pod: access.identity.pod,
    serviceAccount: access.identity.serviceAccount,
    clientAddress,
    clientUser: clientUser ?? null,
    applicationName: applicationName ?? null,
    policy: { name: policy.name, hash: policy.hash },
    upstream: { host, port, database, user },
  });
  return new SessionTap(session);
}

function refuse(socket: Socket, err: unknown, ctx: ProxyContext, log: Logger): void {
  if (err instanceof ConnectionClosed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
    log.debug('client left during startup');
    socket.destroy();
    return;
  }
  const pgError =
    err instanceof PgError
      ? err
      : err instanceof ProtocolViolation
        ? ProxyErrors.protocolViolation(err.message)
        : null;
  if (!pgError) {
    log.error({ err }, 'unexpected error in client connection');
    socket.destroy();
    return;
  }
  ctx.metrics.connectionsTotal.inc({ outcome: outcomeOf(pgError) });
  if (pgError instanceof UpstreamFailure) ctx.metrics.upstreamErrors.inc({ kind: pgError.kind });
  log.warn({ sqlstate: pgError.code, reason: pgError.message }, 'connection refused');
  if (!socket.destroyed) socket.end(pgError.encode());
}

function outcomeOf(e: PgError): string {
  if (e.code === '28P01') return 'auth_failed';
  if (e.code === '08P01') return 'protocol_error';
  if (e instanceof UpstreamFailure) return 'upstream_error';
  return 'refused';
}

async function relayCancel(
  ctx: ProxyContext,
  key: { pid: number; secret: number },
  log: Logger,
): Promise<void> {
  const upstream = ctx.cancels.lookup(key);
  if (!upstream) {
    ctx.metrics.cancelRequests.inc({ outcome: 'unknown_key' });
    log.info('CancelRequest with an unknown key ignored');
    return;
  }
  upstream.onCancel?.();
  try {
    await forwardCancel(upstream);
    ctx.metrics.cancelRequests.inc({ outcome: 'forwarded' });
    log.info('CancelRequest forwarded upstream');
  } catch (err) {
    ctx.metrics.cancelRequests.inc({ outcome: 'failed' });
    log.warn({ reason: (err as Error).message }, 'CancelRequest could not be forwarded');
  }
}
