import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

/** SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL uses it: no channel binding, empty username in messages. */

const hmac = (key: Buffer, data: string | Buffer) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();
const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((v, i) => v ^ (b[i] as number)));

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) attrs.set(part[0] as string, part.slice(2));
  }
  return attrs;
}

const pbkdf2Async = promisify(pbkdf2);

/** SASLprep is not applied: ASCII passwords are unaffected, and PostgreSQL itself falls back to the raw bytes where SASLprep fails. */
function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(password, salt, iterations, 32, 'sha256');
}

/**
 * A server keeps one salt and iteration count per role, so every new upstream
 * session would repeat the same PBKDF2 (milliseconds of CPU). The result is
 * cached per password/salt/iterations, and computed off the event loop.
 */
const saltedCache = new Map<string, Promise<Buffer>>();
const SALTED_CACHE_LIMIT = 64;

function saltedPasswordAsync(password: string, salt: string, iterations: number): Promise<Buffer> {
  const key = createHash('sha256').update(`${iterations}\0${salt}\0${password}`).digest('base64');
  let salted = saltedCache.get(key);
  if (!salted) {
    if (saltedCache.size >= SALTED_CACHE_LIMIT) saltedCache.clear();
    salted = pbkdf2Async(password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
    salted.catch(() => saltedCache.delete(key));
    saltedCache.set(key, salted);
  }
  return salted;
}

export class ScramError extends Error {
  override name = 'ScramError';
}

/** Client side, used towards the upstream server. */
export class ScramClient {
  private readonly clientNonce = randomBytes(18).toString('base64');
  private readonly clientFirstBare = `n=*,r=${this.clientNonce}`;
  private serverSignature: Buffer | null = null;

  constructor(private readonly password: string) {}

  firstMessage(): string {
    return `n,,${this.clientFirstBare}`;
  }

  async finalMessage(serverFirst: string): Promise<string> {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce?.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new ScramError('server nonce does not extend the client nonce');
    }
    if (!salt || !Number.isInteger(iterations) || iterations < 1)
      throw new ScramError('malformed server-first-message');
    const salted = await saltedPasswordAsync(this.password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verifyServerFinal(serverFinal: string): void {
    const v = parseAttributes(serverFinal).get('v');
    const expected = this.serverSignature;
    if (!v || !expected) throw new ScramError('server did not send its signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      throw new ScramError('server signature does not match: the upstream is not who it claims to be');
    }
  }
}

/** A stored verifier, as PostgreSQL keeps it in pg_authid. */
export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export function scramVerifier(password: string, iterations = 4096): ScramVerifier {
  const salt = randomBytes(16);
  const salted = saltedPassword(password, salt, iterations);
  return {
    salt,
    iterations,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/** Server side, used to authenticate clients of the proxy when client auth is on. */
export class ScramServer {
  private readonly serverNonce = randomBytes(18).toString('base64');
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  constructor(private readonly verifier: ScramVerifier) {}

  /** Takes client-first-message, returns server-first-message. */
  serverFirstMessage(clientFirst: string): string {
    if (!clientFirst.startsWith('n,') && !clientFirst.startsWith('y,')) {
      throw new ScramError('channel binding is not supported by pgwarden');
    }
    this.clientFirstBare = clientFirst.slice(clientFirst.indexOf(',', 2) + 1);
    const clientNonce = parseAttributes(this.clientFirstBare).get('r');
    if (!clientNonce) throw new ScramError('client-first-message has no nonce');
    this.nonce = clientNonce + this.serverNonce;
    const { salt, iterations } = this.verifier;
    this.serverFirst = `r=${this.nonce},s=${salt.toString('base64')},i=${iterations}`;
    return this.serverFirst;
  }

  /** Verifies client-final-message; returns server-final-message or throws when the proof is wrong. */
  serverFinalMessage(clientFinal: string): string {
    const attrs = parseAttributes(clientFinal);
    const proof = attrs.get('p');
    if (attrs.get('r') !== this.nonce || !proof) throw new ScramError('client-final-message does not match');
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(',p='));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.verifier.storedKey, authMessage);
    const proofBytes = Buffer.from(proof, 'base64');
    if (proofBytes.length !== clientSignature.length) throw new ScramError('password authentication failed');
    const clientKey = xor(proofBytes, clientSignature);
    if (!timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) {
      throw new ScramError('password authentication failed');
    }
    return `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}`;
  }
}

/** PostgreSQL's MD5 password response: "md5" + md5(md5(password + user) + salt). */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5')
    .update(password + user)
    .digest('hex');
  return `md5${createHash('md5')
    .update(Buffer.concat([Buffer.from(inner), salt]))
    .digest('hex')}`;
}
