import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, rootCertificates, connect as tlsConnect } from 'node:tls';
import type { UpstreamEndpoint } from '@pgwarden/crds';
import type { Secret } from '../config/secret.js';
import { describeEndpoint } from '../config/upstream-url.js';
import { ProxyErrors, UpstreamFailure } from '../errors/proxy-errors.js';
import { AuthCode, BackendCode, FrontendCode } from '../wire/codes.js';
import { decodeErrorFields, PgError } from '../wire/error-response.js';
import { MessageReader } from '../wire/reader.js';
import { SocketReader } from '../wire/socket-reader.js';
import { encodeSSLRequest, encodeStartupMessage } from '../wire/startup.js';
import { MessageWriter } from '../wire/writer.js';
import { md5PasswordResponse, ScramClient } from './scram.js';

/** Handshake messages from a server are small; anything bigger is not a server we trust. */
const MAX_HANDSHAKE_MESSAGE = 1024 * 1024;

export interface UpstreamSession {
  socket: Socket;
  /** Raw ParameterStatus and NoticeResponse messages, forwarded to the client verbatim. */
  greeting: Buffer[];
  backendKey: { pid: number; secret: number } | null;
  /** Bytes that arrived after ReadyForQuery, to be relayed first. */
  leftover: Buffer;
}

/**
 * An endpoint as the sidecar connects to it. A grant carries its CA as PEM
 * text rather than a file, hence `sslRootCertPem`, which wins over sslRootCert.
 */
export type ConnectEndpoint = UpstreamEndpoint & { sslRootCertPem?: string };

export interface UpstreamTarget {
  endpoint: ConnectEndpoint;
  password: Secret | null;
}

/**
 * Opens an authenticated upstream session: TCP, TLS per sslmode, StartupMessage
 * with the client's session parameters, then SCRAM-SHA-256, MD5 or cleartext.
 * Failures throw a PgError fit to send to the client.
 */
export async function connectUpstream(
  target: UpstreamTarget,
  params: Map<string, string>,
): Promise<UpstreamSession> {
  const { endpoint } = target;
  const where = describeEndpoint(endpoint);
  // connect_timeout bounds the whole handshake: TCP, TLS negotiation, startup and authentication.
  const deadlineAt = Date.now() + endpoint.connectTimeoutMs;
  const socket = await openTransport(endpoint, deadlineAt);
  const deadline = setTimeout(
    () => socket.destroy(new Error(`no answer within ${endpoint.connectTimeoutMs} ms`)),
    Math.max(0, deadlineAt - Date.now()),
  );
  try {
    const reader = new SocketReader(socket);
    const startup = new Map<string, string>([
      ['user', endpoint.user],
      ['database', endpoint.database],
    ]);
    for (const [k, v] of params) if (!startup.has(k)) startup.set(k, v);
    socket.write(encodeStartupMessage(startup));
    await authenticate(reader, socket, target, where);
    const session = await readUntilReady(reader, where);
    return { socket, ...session, leftover: reader.detach() };
  } catch (err) {
    socket.destroy();
    if (err instanceof PgError) throw err;
    throw ProxyErrors.upstreamUnreachable(where, (err as Error).message);
  } finally {
    clearTimeout(deadline);
  }
}

/**
 * TCP plus TLS as the endpoint's sslmode asks; used for sessions and for forwarding CancelRequests.
 * A server that accepts the connection but never answers the SSLRequest or the TLS handshake is
 * given up at `deadlineAt` (default: connect_timeout from now).
 */
export async function openTransport(
  endpoint: ConnectEndpoint,
  deadlineAt = Date.now() + endpoint.connectTimeoutMs,
): Promise<Socket> {
  const where = describeEndpoint(endpoint);
  const socket = await openSocket(endpoint, where);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(ProxyErrors.upstreamUnreachable(where, `no answer within ${endpoint.connectTimeoutMs} ms`)),
      Math.max(0, deadlineAt - Date.now()),
    );
  });
  const negotiation = negotiateTls(socket, endpoint, where);
  try {
    return await Promise.race([negotiation, timeout]);
  } catch (err) {
    socket.destroy();
    // A TLS socket that completes after the deadline must not linger.
    negotiation.then(
      (late) => late.destroy(),
      () => undefined,
    );
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function openSocket(endpoint: UpstreamEndpoint, where: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({
      host: endpoint.host,
      port: endpoint.port,
      noDelay: true,
      timeout: endpoint.connectTimeoutMs,
    });
    const fail = (err: Error) => {
      socket.destroy();
      reject(ProxyErrors.upstreamUnreachable(where, (err as NodeJS.ErrnoException).code ?? err.message));
    };
    socket.once('error', fail);
    socket.once('timeout', () => fail(new Error(`connect timed out after ${endpoint.connectTimeoutMs} ms`)));
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
  });
}

async function negotiateTls(socket: Socket, endpoint: ConnectEndpoint, where: string): Promise<Socket> {
  if (endpoint.sslMode === 'disable') return socket;
  const reader = new SocketReader(socket);
  socket.write(encodeSSLRequest());
  const answer = (await reader.read(1))[0];
  // Bytes after the one-byte answer would have been injected before TLS (CVE-2021-23222).
  if (reader.detach().length > 0)
    throw ProxyErrors.upstreamTls(where, 'server sent unencrypted data after accepting TLS');
  if (answer === 0x4e /* N */) {
    if (endpoint.sslMode === 'prefer') return socket;
    throw ProxyErrors.upstreamTls(where, `server does not support TLS but sslmode=${endpoint.sslMode}`);
  }
  if (answer !== 0x53 /* S */) throw ProxyErrors.upstreamTls(where, 'unexpected answer to SSLRequest');
  return upgradeToTls(socket, endpoint, where);
}

export function tlsOptions(endpoint: ConnectEndpoint): ConnectionOptions {
  const verify = endpoint.sslMode === 'verify-ca' || endpoint.sslMode === 'verify-full';
  const options: ConnectionOptions = {
    rejectUnauthorized: verify,
    servername: endpoint.host.includes(':') || /^[\d.]+$/.test(endpoint.host) ? undefined : endpoint.host,
  };
  if (verify && endpoint.sslRootCertPem !== undefined) options.ca = endpoint.sslRootCertPem;
  else if (verify && endpoint.sslRootCert) {
    options.ca =
      endpoint.sslRootCert === 'system' ? [...rootCertificates] : readFileSync(endpoint.sslRootCert);
  }
  // verify-ca checks the chain only, as libpq does.
  if (endpoint.sslMode !== 'verify-full') options.checkServerIdentity = () => undefined;
  return options;
}

function upgradeToTls(socket: Socket, endpoint: ConnectEndpoint, where: string): Promise<Socket> {
  let options: ConnectionOptions;
  try {
    options = tlsOptions(endpoint);
  } catch (err) {
    return Promise.reject(
      ProxyErrors.upstreamTls(
        where,
        `cannot read sslrootcert: ${(err as NodeJS.ErrnoException).code ?? err}`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ ...options, socket, host: endpoint.host });
    secure.once('error', (err) => reject(ProxyErrors.upstreamTls(where, err.message)));
    secure.once('secureConnect', () => {
      secure.removeAllListeners('error');
      secure.setNoDelay(true);
      resolve(secure);
    });
  });
}

async function authenticate(
  reader: SocketReader,
  socket: Socket,
  target: UpstreamTarget,
  where: string,
): Promise<void> {
  const body = new MessageReader();
  let scram: ScramClient | null = null;
  const password = () => {
    if (!target.password)
      throw ProxyErrors.upstreamAuth(where, 'the server asks for a password but none is configured');
    return target.password.reveal();
  };
  for (;;) {
    const { code, message } = await reader.readMessage(MAX_HANDSHAKE_MESSAGE);
    if (code === BackendCode.ErrorResponse) throw upstreamError(message, where);
    if (code === BackendCode.NegotiateProtocolVersion) continue;
    if (code !== BackendCode.Authentication)
      throw ProxyErrors.upstreamAuth(
        where,
        `unexpected message '${String.fromCharCode(code)}' during authentication`,
      );
    body.reset(message, 5, message.length);
    const kind = body.int32();
    switch (kind) {
      case AuthCode.Ok:
        return;
      case AuthCode.CleartextPassword:
        socket.write(new MessageWriter(FrontendCode.Password).cstring(password()).finish());
        break;
      case AuthCode.MD5Password:
        socket.write(
          new MessageWriter(FrontendCode.Password)
            .cstring(md5PasswordResponse(target.endpoint.user, password(), body.bytes(4)))
            .finish(),
        );
        break;
      case AuthCode.SASL: {
        const mechanisms: string[] = [];
        for (let m = body.cstring(); m !== ''; m = body.cstring()) mechanisms.push(m);
        if (!mechanisms.includes('SCRAM-SHA-256')) {
          throw ProxyErrors.upstreamAuth(
            where,
            `server offers SASL mechanisms ${mechanisms.join(', ')}; pgwarden supports SCRAM-SHA-256`,
          );
        }
        scram = new ScramClient(password());
        const first = Buffer.from(scram.firstMessage());
        socket.write(
          new MessageWriter(FrontendCode.Password)
            .cstring('SCRAM-SHA-256')
            .int32(first.length)
            .bytes(first)
            .finish(),
        );
        break;
      }
      case AuthCode.SASLContinue: {
        if (!scram) throw ProxyErrors.upstreamAuth(where, 'SASLContinue before SASL');
        const final = await scram.finalMessage(body.rest().toString('utf8'));
        socket.write(new MessageWriter(FrontendCode.Password).bytes(Buffer.from(final)).finish());
        break;
      }
      case AuthCode.SASLFinal:
        if (!scram) throw ProxyErrors.upstreamAuth(where, 'SASLFinal before SASL');
        try {
          scram.verifyServerFinal(body.rest().toString('utf8'));
        } catch (err) {
          throw ProxyErrors.upstreamAuth(where, (err as Error).message);
        }
        break;
      default:
        throw ProxyErrors.upstreamAuth(
          where,
          `authentication method ${kind} is not supported (use scram-sha-256, md5 or password)`,
        );
    }
  }
}

async function readUntilReady(
  reader: SocketReader,
  where: string,
): Promise<Omit<UpstreamSession, 'socket' | 'leftover'>> {
  const greeting: Buffer[] = [];
  let backendKey: UpstreamSession['backendKey'] = null;
  for (;;) {
    const { code, message } = await reader.readMessage(MAX_HANDSHAKE_MESSAGE);
    switch (code) {
      case BackendCode.ParameterStatus:
      case BackendCode.NoticeResponse:
        greeting.push(message);
        break;
      case BackendCode.BackendKeyData:
        backendKey = { pid: message.readInt32BE(5), secret: message.readUInt32BE(9) };
        break;
      case BackendCode.ReadyForQuery:
        return { greeting, backendKey };
      case BackendCode.ErrorResponse:
        throw upstreamError(message, where);
      default:
        throw ProxyErrors.upstreamAuth(
          where,
          `unexpected message '${String.fromCharCode(code)}' before ReadyForQuery`,
        );
    }
  }
}

/** The server's own error (bad password, database missing, too many connections) keeps its SQLSTATE. */
function upstreamError(message: Buffer, where: string): UpstreamFailure {
  const f = decodeErrorFields(message, 0, message.length);
  return new UpstreamFailure('refused', {
    severity: 'FATAL',
    code: f.get('C') ?? '08006',
    message: `pgwarden: upstream ${where} refused the session: ${f.get('M') ?? 'unknown error'}`,
    detail: f.get('D'),
    hint: f.get('H'),
  });
}
