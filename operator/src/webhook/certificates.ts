import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM texts of the webhook's CA and serving certificate, as its Secret stores them. */
export interface WebhookCertificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

const DAY_MS = 86_400_000;
/** A minimal config, so the result does not depend on the distribution's openssl.cnf. */
const OPENSSL_CONFIG = '[req]\ndistinguished_name = dn\n[dn]\n';
const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/**
 * Issues a serving certificate for `hosts` (DNS names or IP addresses), from
 * the given CA or, without one, from a new self-signed CA. P-256 keys by the
 * openssl CLI (node:crypto makes keys but cannot sign certificates).
 */
export async function issueCertificates(
  hosts: readonly string[],
  {
    ca,
    caDays = 3650,
    days = 365,
  }: { ca?: Pick<WebhookCertificates, 'caCert' | 'caKey'>; caDays?: number; days?: number },
): Promise<WebhookCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-webhook-'));
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => run('openssl', ['req', '-config', file('openssl.cnf'), ...args]);
  try {
    await writeFile(file('openssl.cnf'), OPENSSL_CONFIG);
    if (ca) {
      await writeFile(file('ca.crt'), ca.caCert);
      await writeFile(file('ca.key'), ca.caKey, { mode: 0o600 });
    } else {
      await openssl([
        ...['-x509', ...P256, '-days', String(caDays), '-subj', '/CN=pgwarden-webhook-ca'],
        ...[
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        ...['-keyout', file('ca.key'), '-out', file('ca.crt')],
      ]);
    }
    const altNames = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    await openssl([
      ...['-x509', '-CA', file('ca.crt'), '-CAkey', file('ca.key'), ...P256, '-days', String(days)],
      ...[
        '-subj',
        `/CN=${hosts[0] ?? 'pgwarden-webhook'}`,
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
      ],
      ...['-addext', `subjectAltName=${altNames}`, '-addext', 'basicConstraints=critical,CA:FALSE'],
      ...['-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth'],
      ...['-keyout', file('tls.key'), '-out', file('tls.crt')],
    ]);
    const [caCert, caKey, cert, key] = await Promise.all(
      ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'].map((name) => readFile(file(name), 'utf8')),
    );
    return { caCert: caCert as string, caKey: caKey as string, cert: cert as string, key: key as string };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export type CertificateVerdict = { usable: true } | { usable: false; why: string };

/**
 * Whether stored certificates can keep serving: the serving certificate is
 * signed by the CA, names every host, and neither expires within
 * `renewBeforeMs` (rotation happens ahead of expiry, never after it).
 */
export function checkCertificates(
  stored: WebhookCertificates,
  hosts: readonly string[],
  renewBeforeMs: number,
  now = new Date(),
): CertificateVerdict {
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(stored.caCert);
    cert = new X509Certificate(stored.cert);
  } catch (error) {
    return { usable: false, why: `unreadable certificate: ${(error as Error).message}` };
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    return { usable: false, why: 'not signed by the CA' };
  const deadline = now.getTime() + renewBeforeMs;
  if (new Date(ca.validTo).getTime() <= deadline) return { usable: false, why: 'CA expires soon' };
  if (new Date(cert.validTo).getTime() <= deadline)
    return { usable: false, why: 'serving certificate expires soon' };
  const missing = hosts.filter((h) => !(isIP(h) ? cert.checkIP(h) : cert.checkHost(h)));
  if (missing.length > 0) return { usable: false, why: `does not name ${missing.join(', ')}` };
  return { usable: true };
}

/** Whether the CA outlives a serving certificate issued now for `days`, so it can sign one. */
export function caOutlives(
  stored: Pick<WebhookCertificates, 'caCert'>,
  days: number,
  now = new Date(),
): boolean {
  try {
    return new Date(new X509Certificate(stored.caCert).validTo).getTime() > now.getTime() + days * DAY_MS;
  } catch {
    return false;
  }
}

/** PEM texts of a certificate someone else issued, as a kubernetes.io/tls Secret stores them (cert-manager's keys). */
export interface ServedCertificates {
  /** The serving certificate, optionally followed by its intermediates. */
  cert: string;
  key: string;
  /** The CA that signs it: the webhooks' caBundle and the CA sidecars verify the grant API with. */
  caCert: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * What stops a certificate someone else issued from serving the webhooks and
 * the grant API, or undefined when nothing does: tls.key must be tls.crt's
 * key, the chain in tls.crt must lead to ca.crt, the certificate must be valid
 * now and name every host.
 */
export function servedCertificateProblem(
  served: ServedCertificates,
  hosts: readonly string[],
  now = new Date(),
): string | undefined {
  let chain: X509Certificate[];
  let ca: X509Certificate;
  try {
    chain = (served.cert.match(PEM_CERTIFICATE) ?? []).map((pem) => new X509Certificate(pem));
    ca = new X509Certificate(served.caCert);
  } catch (error) {
    return `unreadable certificate: ${(error as Error).message}`;
  }
  const leaf = chain[0];
  if (!leaf) return 'tls.crt holds no PEM certificate';
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(served.key))) return 'tls.key is not the key of tls.crt';
  } catch (error) {
    return `tls.key is not a PEM private key: ${(error as Error).message}`;
  }
  // Each certificate signed by the next one in tls.crt, the last one by ca.crt (or it is ca.crt).
  const issued = (child: X509Certificate, parent: X509Certificate) =>
    child.checkIssued(parent) && child.verify(parent.publicKey);
  const top = chain.at(-1) as X509Certificate;
  const chained = chain.slice(0, -1).every((c, i) => issued(c, chain[i + 1] as X509Certificate));
  if (!chained || !(top.fingerprint256 === ca.fingerprint256 || issued(top, ca)))
    return 'tls.crt is not issued by ca.crt';
  if (new Date(leaf.validTo).getTime() <= now.getTime()) return `tls.crt expired at ${leaf.validTo}`;
  if (new Date(leaf.validFrom).getTime() > now.getTime())
    return `tls.crt is not valid before ${leaf.validFrom}`;
  const missing = hosts.filter((h) => !(isIP(h) ? leaf.checkIP(h) : leaf.checkHost(h)));
  if (missing.length > 0) return `tls.crt does not name ${missing.join(', ')}`;
  return undefined;
}
