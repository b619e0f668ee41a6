import type { Socket } from 'node:net';
import type { ClientAuth } from '../config/proxy-config.js';
import { ProxyErrors } from '../errors/proxy-errors.js';
import { AuthCode, BackendCode, FrontendCode } from '../wire/codes.js';
import { PgError } from '../wire/error-response.js';
import { MessageReader, ProtocolViolation } from '../wire/reader.js';
import type { SocketReader } from '../wire/socket-reader.js';
import { parseStartupPacket, startupPacketLength } from '../wire/startup.js';
import { MessageWriter } from '../wire/writer.js';
import { ScramError, ScramServer, type ScramVerifier } from './scram.js';

export type ClientHello =
  | { kind: 'cancel'; pid: number; secret: number }
  | {
      kind: 'session';
      /** The user name the client asked for; only for logs, the upstream role comes from configuration. */
      clientUser: string;
      /** Session parameters to pass upstream (application_name, client_encoding, DateStyle…). */
      params: Map<string, string>;
      /** oidc-token: the password the client sent, for the access source to verify; null otherwise. */
      password: string | null;
    };

/** Startup parameters that would let a client choose its identity or escape the proxy's control. */
const REFUSED_PARAMS: Record<string, string> = {
  replication: 'replication connections are never proxied',
  options: 'command-line options could override the session settings pgwarden enforces',
  role: 'the upstream role is set by pgwarden',
  session_authorization: 'the upstream role is set by pgwarden',
};

/** Taken from the upstream configuration; the client's values are ignored. */
const PINNED_PARAMS = new Set(['user', 'database']);

const NO_ENCRYPTION = Buffer.from('N');

/**
 * The client side of the startup phase: refuses encryption requests (the
 * sidecar listens on the pod's loopback), negotiates the protocol version,
 * vets startup parameters and authenticates the client when configured.
 */
export async function acceptClient(
  socket: Socket,
  reader: SocketReader,
  auth: ClientAuth,
  verifier: ScramVerifier | null,
): Promise<ClientHello> {
  for (;;) {
    const lengthWord = await reader.read(4);
    const length = startupPacketLength(lengthWord, 0);
    const packet = Buffer.concat([lengthWord, await reader.read(length - 4)]);
    const hello = parseStartupPacket(packet);
    switch (hello.kind) {
      case 'ssl':
      case 'gssenc':
        socket.write(NO_ENCRYPTION);
        continue;
      case 'cancel':
        return hello;
      case 'startup': {
        const params = vetParameters(socket, hello.minor, hello.params);
        const clientUser = hello.params.get('user') ?? '';
        if (auth.method === 'scram-sha-256')
          await authenticateScram(socket, reader, clientUser, verifier as ScramVerifier);
        const password = auth.method === 'oidc-token' ? await requestCleartextPassword(socket, reader) : null;
        return { kind: 'session', clientUser, params, password };
      }
    }
  }
}

function vetParameters(socket: Socket, minor: number, given: Map<string, string>): Map<string, string> {
  const params = new Map<string, string>();
  const unsupportedOptions: string[] = [];
  for (const [name, value] of given) {
    if (name.startsWith('_pq_.')) {
      unsupportedOptions.push(name);
      continue;
    }
    const refused = REFUSED_PARAMS[name.toLowerCase()];
    if (refused && !(name === 'replication' && /^(false|off|no|0)$/i.test(value))) {
      throw ProxyErrors.startupParameterRefused(name, refused);
    }
    if (!PINNED_PARAMS.has(name) && name !== 'replication') params.set(name, value);
  }
  // Protocol 3.x with x > 0 or _pq_ options: answer with what we speak (3.0, no options), as PostgreSQL does.
  if (minor > 0 || unsupportedOptions.length > 0) {
    const w = new MessageWriter(BackendCode.NegotiateProtocolVersion)
      .int32(0)
      .int32(unsupportedOptions.length);
    for (const o of unsupportedOptions) w.cstring(o);
    socket.write(w.finish());
  }
  return params;
}

async function authenticateScram(
  socket: Socket,
  reader: SocketReader,
  user: string,
  verifier: ScramVerifier,
): Promise<void> {
  const server = new ScramServer(verifier);
  socket.write(
    new MessageWriter(BackendCode.Authentication)
      .int32(AuthCode.SASL)
      .cstring('SCRAM-SHA-256')
      .byte(0)
      .finish(),
  );
  const body = new MessageReader();
  try {
    const initial = await readPasswordMessage(reader);
    body.reset(initial, 5, initial.length);
    if (body.cstring() !== 'SCRAM-SHA-256') throw new ScramError('unsupported SASL mechanism');
    const firstLength = body.int32();
    const serverFirst = server.serverFirstMessage(body.bytes(firstLength).toString('utf8'));
    socket.write(
      new MessageWriter(BackendCode.Authentication)
        .int32(AuthCode.SASLContinue)
        .bytes(Buffer.from(serverFirst))
        .finish(),
    );
    const final = await readPasswordMessage(reader);
    const serverFinal = server.serverFinalMessage(final.toString('utf8', 5));
    socket.write(
      new MessageWriter(BackendCode.Authentication)
        .int32(AuthCode.SASLFinal)
        .bytes(Buffer.from(serverFinal))
        .finish(),
    );
  } catch (err) {
    if (err instanceof ScramError || err instanceof ProtocolViolation)
      throw ProxyErrors.clientAuthFailed(user);
    throw err;
  }
}

/**
 * AuthenticationCleartextPassword: the client answers with its password as
 * is (a NUL-terminated string). Used for tokens, which the access source
 * verifies itself; the listener is loopback-only in that mode.
 */
async function requestCleartextPassword(socket: Socket, reader: SocketReader): Promise<string> {
  socket.write(new MessageWriter(BackendCode.Authentication).int32(AuthCode.CleartextPassword).finish());
  const message = await readPasswordMessage(reader);
  const end = message.indexOf(0, 5);
  return message.toString('utf8', 5, end === -1 ? message.length : end);
}

async function readPasswordMessage(reader: SocketReader): Promise<Buffer> {
  const { code, message } = await reader.readMessage(64 * 1024);
  if (code !== FrontendCode.Password) throw new ProtocolViolation('expected a password message');
  return message;
}

export function encodeAuthenticationOk(): Buffer {
  return new MessageWriter(BackendCode.Authentication).int32(AuthCode.Ok).finish();
}

export function encodeBackendKeyData(pid: number, secret: number): Buffer {
  return new MessageWriter(BackendCode.BackendKeyData)
    .int32(pid)
    .int32(secret | 0)
    .finish();
}

export function isPgError(err: unknown): err is PgError {
  return err instanceof PgError;
}
