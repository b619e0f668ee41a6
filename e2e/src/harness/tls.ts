import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process.js';

/** A throwaway PKI: a CA, a server certificate it signed, and a second CA that signed nothing. */
export interface TestPki {
  caFile: string;
  caPem: string;
  /** Server certificate for DNS:localhost, IP:127.0.0.1 and IP:::1, signed by the CA. */
  certFile: string;
  certPem: string;
  /** Unencrypted server key, mode 0600 (PostgreSQL refuses a key others can read). */
  keyFile: string;
  keyPem: string;
  /** An unrelated CA, for "server certificate signed by someone else" tests. */
  wrongCaFile: string;
  wrongCaPem: string;
}

// P-256 rather than RSA: key generation is instant and every client we test
// with (libpq, node:tls, Go) accepts ECDSA server certificates.
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const validityDays = '7';

// Our own config so the result does not depend on the distribution's
// openssl.cnf, whose defaults decide which extensions `req -x509` adds.
const opensslConfig = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
`;

/** Generates a {@link TestPki} into `dir` (created if missing) with the `openssl` CLI. */
export async function createTestPki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  const config = file('openssl.cnf');
  await writeFile(config, opensslConfig);

  await createCa(config, file('ca'), 'pgwarden test CA');
  await createCa(config, file('wrong-ca'), 'pgwarden unrelated CA');
  await openssl([
    ...['req', '-config', config, '-new', ...newKey, '-subj', '/CN=localhost'],
    ...['-keyout', file('server.key'), '-out', file('server.csr')],
  ]);
  await openssl([
    ...['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key')],
    // Explicit random serial: OpenSSL versions disagree on the default.
    ...['-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', validityDays],
    ...['-extfile', config, '-extensions', 'server', '-out', file('server.crt')],
  ]);
  await chmod(file('server.key'), 0o600);

  return {
    caFile: file('ca.crt'),
    caPem: await readFile(file('ca.crt'), 'utf8'),
    certFile: file('server.crt'),
    certPem: await readFile(file('server.crt'), 'utf8'),
    keyFile: file('server.key'),
    keyPem: await readFile(file('server.key'), 'utf8'),
    wrongCaFile: file('wrong-ca.crt'),
    wrongCaPem: await readFile(file('wrong-ca.crt'), 'utf8'),
  };
}

/** A self-signed CA as `<base>.key` + `<base>.crt`. */
function createCa(config: string, base: string, commonName: string): Promise<void> {
  return openssl([
    ...['req', '-config', config, '-x509', ...newKey, '-days', validityDays, '-extensions', 'ca'],
    ...['-subj', `/CN=${commonName}`, '-keyout', `${base}.key`, '-out', `${base}.crt`],
  ]);
}

/** Runs the openssl CLI; a failure throws with its stderr. */
export async function openssl(args: readonly string[]): Promise<void> {
  const result = await run('openssl', args);
  if (result.code !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed (${result.code ?? result.signal}):\n${result.stderr}`);
  }
}
