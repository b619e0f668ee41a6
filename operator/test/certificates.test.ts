import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  caOutlives,
  checkCertificates,
  issueCertificates,
  servedCertificateProblem,
} from '../src/webhook/certificates.js';

const DAY = 86_400_000;

describe('webhook certificates', () => {
  it('issues a CA and a serving certificate for DNS names and IPs', async () => {
    const issued = await issueCertificates(['pgwarden-operator.pgwarden-system.svc', '127.0.0.1'], {
      days: 30,
    });
    const cert = new X509Certificate(issued.cert);
    expect(cert.checkIssued(new X509Certificate(issued.caCert))).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:pgwarden-operator.pgwarden-system.svc, IP Address:127.0.0.1');
    expect(cert.ca).toBe(false);
    expect(new X509Certificate(issued.caCert).ca).toBe(true);
    expect(checkCertificates(issued, ['127.0.0.1'], DAY)).toEqual({ usable: true });
  });

  it('asks for rotation ahead of expiry, for a host it does not name, and for another CA', async () => {
    const issued = await issueCertificates(['a.svc'], { days: 10 });
    expect(checkCertificates(issued, ['a.svc'], 20 * DAY)).toEqual({
      usable: false,
      why: 'serving certificate expires soon',
    });
    expect(checkCertificates(issued, ['b.svc'], DAY)).toEqual({ usable: false, why: 'does not name b.svc' });
    const other = await issueCertificates(['a.svc'], { days: 10 });
    expect(checkCertificates({ ...issued, caCert: other.caCert }, ['a.svc'], DAY)).toEqual({
      usable: false,
      why: 'not signed by the CA',
    });
  });

  it('re-issues from the same CA while it outlives the new certificate', async () => {
    const first = await issueCertificates(['a.svc'], { days: 10, caDays: 100 });
    expect(caOutlives(first, 50)).toBe(true);
    expect(caOutlives(first, 200)).toBe(false);
    const second = await issueCertificates(['a.svc', 'b.svc'], { ca: first, days: 10 });
    expect(second.caCert).toBe(first.caCert);
    expect(second.cert).not.toBe(first.cert);
    expect(checkCertificates(second, ['a.svc', 'b.svc'], DAY)).toEqual({ usable: true });
  });

  it('checks a certificate someone else issued: key, chain to ca.crt, validity, hosts', async () => {
    const issued = await issueCertificates(['a.svc'], { days: 10 });
    const other = await issueCertificates(['a.svc'], { days: 10 });
    expect(servedCertificateProblem(issued, ['a.svc'])).toBeUndefined();
    // cert-manager may put the CA after the leaf in tls.crt.
    expect(
      servedCertificateProblem({ ...issued, cert: issued.cert + issued.caCert }, ['a.svc']),
    ).toBeUndefined();
    expect(servedCertificateProblem({ ...issued, key: other.key }, ['a.svc'])).toBe(
      'tls.key is not the key of tls.crt',
    );
    expect(servedCertificateProblem({ ...issued, caCert: other.caCert }, ['a.svc'])).toBe(
      'tls.crt is not issued by ca.crt',
    );
    expect(servedCertificateProblem({ ...issued, cert: issued.cert + other.caCert }, ['a.svc'])).toBe(
      'tls.crt is not issued by ca.crt',
    );
    expect(servedCertificateProblem(issued, ['a.svc'], new Date(Date.now() + 11 * DAY))).toMatch(
      /^tls\.crt expired at /,
    );
    expect(servedCertificateProblem(issued, ['a.svc', '10.0.0.1'])).toBe('tls.crt does not name 10.0.0.1');
    expect(servedCertificateProblem({ ...issued, cert: 'junk' }, ['a.svc'])).toBe(
      'tls.crt holds no PEM certificate',
    );
    expect(servedCertificateProblem({ ...issued, key: 'junk' }, ['a.svc'])).toMatch(
      /^tls\.key is not a PEM private key: /,
    );
  });
});
