import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openssl } from '../harness/tls.js';

/** A certificate and its unencrypted key, as files and as PEM. */
export interface KeyPair {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/** Who a client certificate authenticates as: CN is the user, each O a group. */
export interface ClientSubject {
  user: string;
  groups?: readonly string[];
}

/** The control plane's throwaway PKI; the CA also signs client certificates minted later. */
export interface ControlPlanePki {
  dir: string;
  ca: KeyPair;
  /** kube-apiserver's serving certificate. */
  server: KeyPair;
  /** O=system:masters: bypasses RBAC. */
  admin: KeyPair;
  /** Service-account token signing key (private) and verification key (public), PEM files. */
  serviceAccountKeyFile: string;
  serviceAccountPublicKeyFile: string;
}

// P-256 instead of RSA: key generation is instant, and kube-apiserver, etcd,
// kubectl and Node all accept ECDSA keys for TLS and for service-account tokens.
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const validityDays = '2';

// Our own config so the result does not depend on the distribution's openssl.cnf.
const opensslConfig = `[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:10.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid, issuer
`;

export async function createControlPlanePki(dir: string): Promise<ControlPlanePki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, opensslConfig);
  await openssl([
    ...['req', '-config', config, '-x509', ...newKey, '-days', validityDays, '-extensions', 'ca'],
    ...[
      '-subj',
      '/CN=pgwarden-test-kubernetes-ca',
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.crt'),
    ],
  ]);
  const ca = await readPair(join(dir, 'ca'));
  const server = await issue(dir, ca, 'server', '/CN=kube-apiserver', 'server');
  const admin = await issue(
    dir,
    ca,
    'admin',
    subjectOf({ user: 'admin', groups: ['system:masters'] }),
    'client',
  );
  const serviceAccountKeyFile = join(dir, 'sa.key');
  const serviceAccountPublicKeyFile = join(dir, 'sa.pub');
  await openssl([
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    serviceAccountKeyFile,
  ]);
  await openssl(['pkey', '-in', serviceAccountKeyFile, '-pubout', '-out', serviceAccountPublicKeyFile]);
  return { dir, ca, server, admin, serviceAccountKeyFile, serviceAccountPublicKeyFile };
}

/** A client certificate signed by the control plane's CA, authenticating as `subject`. */
export async function mintClientCertificate(pki: ControlPlanePki, subject: ClientSubject): Promise<KeyPair> {
  const base = `user-${randomBytes(6).toString('hex')}`;
  return issue(pki.dir, pki.ca, base, subjectOf(subject), 'client');
}

/**
 * "/O=g1/O=g2/CN=user". Kubernetes takes the user from CN and one group per O.
 * Characters openssl's -subj syntax would read as separators are refused.
 */
export function subjectOf({ user, groups = [] }: ClientSubject): string {
  for (const part of [user, ...groups]) {
    if (part === '' || /[/\\+=,\n]/.test(part)) {
      throw new Error(
        `client certificate subject ${JSON.stringify(part)}: empty or contains / \\ + = , or a newline`,
      );
    }
  }
  return `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
}

async function issue(
  dir: string,
  ca: KeyPair,
  base: string,
  subject: string,
  extensions: 'server' | 'client',
): Promise<KeyPair> {
  const file = (ext: string) => join(dir, `${base}.${ext}`);
  await openssl([
    'req',
    '-config',
    join(dir, 'openssl.cnf'),
    '-new',
    ...newKey,
    '-subj',
    subject,
    '-keyout',
    file('key'),
    '-out',
    file('csr'),
  ]);
  await openssl([
    ...['x509', '-req', '-in', file('csr'), '-CA', ca.certFile, '-CAkey', ca.keyFile],
    ...['-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', validityDays],
    ...['-extfile', join(dir, 'openssl.cnf'), '-extensions', extensions, '-out', file('crt')],
  ]);
  return readPair(join(dir, base));
}

async function readPair(base: string): Promise<KeyPair> {
  const certFile = `${base}.crt`;
  const keyFile = `${base}.key`;
  return {
    certFile,
    keyFile,
    certPem: await readFile(certFile, 'utf8'),
    keyPem: await readFile(keyFile, 'utf8'),
  };
}
