import { describe, expect, it } from 'vitest';
import { quantityValue } from '../src/kube/quantity.js';
import { ConfigError, envName, loadConfig, usage } from '../src/process/config.js';

const fail = (argv: string[]) => {
  try {
    loadConfig(argv, {});
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('accepted');
};

describe('operator configuration', () => {
  it('has defaults, reads PGWARDEN_OPERATOR_* and lets flags win', () => {
    const config = loadConfig(['--lease-duration', '20s'], {
      PGWARDEN_OPERATOR_LEASE_DURATION: '30s',
      PGWARDEN_OPERATOR_ADMIN_LISTEN: '[::1]:9090',
      PGWARDEN_OPERATOR_LEADER_ELECT: 'false',
    });
    expect(config).toMatchObject({
      leaseDuration: 20_000,
      renewDeadline: 10_000,
      retryPeriod: 2_000,
      adminListen: { host: '::1', port: 9090 },
      leaderElect: false,
      leaseName: 'pgwarden-operator',
      logLevel: 'info',
    });
    expect(Object.isFrozen(config.adminListen)).toBe(true);
    expect(envName('renewDeadline')).toBe('PGWARDEN_OPERATOR_RENEW_DEADLINE');
  });

  it('names the flag of every invalid value', () => {
    expect(fail(['--lease-duration', 'soon'])).toContain('--lease-duration: "soon" is not a duration');
    expect(fail(['--admin-listen', '8080'])).toContain('--admin-listen: "8080" is not HOST:PORT');
    expect(fail(['--log-level', 'loud'])).toContain('--log-level: must be one of');
    expect(fail(['--renew-deadline', '20s'])).toContain(
      '--renew-deadline: must be shorter than --lease-duration',
    );
    expect(fail(['--webhook-renew-before', '9000h'])).toContain(
      '--webhook-renew-before: must be shorter than --webhook-cert-validity',
    );
    expect(fail(['--no-such-flag', 'x'])).toContain("Unknown option '--no-such-flag'");
  });

  it('has sidecar defaults the injection can use as they are, and reads each from a flag', () => {
    const defaults = loadConfig([], {});
    expect(defaults).toMatchObject({
      sidecarImagePullSecrets: [],
      sidecarSpoolSizeLimit: '1536Mi',
      sidecarLogLevel: 'info',
      sidecarLogFormat: 'json',
      logFormat: 'json',
    });
    expect([
      defaults.sidecarImagePullPolicy,
      defaults.sidecarRecordingSecret,
      defaults.sidecarRecordingClaim,
    ]).toEqual([undefined, undefined, undefined]);
    const config = loadConfig(
      [
        ...['--sidecar-image-pull-policy', 'IfNotPresent', '--sidecar-image-pull-secrets', 'regcred, mirror'],
        ...['--sidecar-spool-size-limit', '2.5Gi', '--sidecar-recording-secret', 'recording-s3'],
        ...['--sidecar-recording-claim', 'recordings.v1', '--sidecar-log-level', 'fatal'],
        ...['--sidecar-log-format', 'text', '--log-format', 'text'],
      ],
      {},
    );
    expect(config).toMatchObject({
      sidecarImagePullPolicy: 'IfNotPresent',
      sidecarImagePullSecrets: ['regcred', 'mirror'],
      sidecarSpoolSizeLimit: '2.5Gi',
      sidecarRecordingSecret: 'recording-s3',
      sidecarRecordingClaim: 'recordings.v1',
      sidecarLogLevel: 'fatal',
      sidecarLogFormat: 'text',
      logFormat: 'text',
    });
    for (const size of ['1536Mi', '2G', '1e9', '0.5Gi', '1073741824']) {
      expect(loadConfig(['--sidecar-spool-size-limit', size], {}).sidecarSpoolSizeLimit).toBe(size);
    }
  });

  it('reads Kubernetes quantities as Kubernetes does', () => {
    expect(quantityValue('1536Mi')).toBe(1536 * 2 ** 20);
    expect(quantityValue('0.5Gi')).toBe(2 ** 29);
    expect(quantityValue('2G')).toBe(2e9);
    expect(quantityValue('1e9')).toBe(1e9);
    expect(quantityValue('1500m')).toBe(1.5);
    expect(quantityValue('1.5GB')).toBeNull();
  });

  it('refuses sidecar settings Kubernetes would refuse, naming the flag', () => {
    expect(fail(['--sidecar-image-pull-policy', 'always'])).toContain(
      '--sidecar-image-pull-policy: must be one of',
    );
    for (const size of ['1.5GB', '0', '0Mi', 'big', '-1Gi', '']) {
      expect(fail([`--sidecar-spool-size-limit=${size}`])).toContain(
        `--sidecar-spool-size-limit: ${JSON.stringify(size)} is not a Kubernetes quantity above 0`,
      );
    }
    expect(fail(['--sidecar-recording-secret', 'S3_Creds'])).toContain(
      '--sidecar-recording-secret: "S3_Creds" is not a valid name',
    );
    expect(fail(['--sidecar-recording-claim=-pvc'])).toContain(
      '--sidecar-recording-claim: "-pvc" is not a valid name',
    );
    expect(fail(['--sidecar-log-format', 'pretty'])).toContain('--sidecar-log-format: must be one of');
    expect(fail(['--log-format', 'xml'])).toContain('--log-format: must be one of');
  });

  it('reads --secret-namespaces as a list (omitted: every namespace) and refuses a name Kubernetes would', () => {
    expect(loadConfig([], {}).secretNamespaces).toEqual([]);
    expect(loadConfig(['--secret-namespaces', 'payments, analytics'], {}).secretNamespaces).toEqual([
      'payments',
      'analytics',
    ]);
    expect(fail(['--secret-namespaces', 'payments,Web_1'])).toContain(
      '--secret-namespaces[1]: "Web_1" is not a namespace name',
    );
  });

  it('documents every option with its variable', () => {
    expect(usage()).toContain('--retry-period');
    expect(usage()).toContain('PGWARDEN_OPERATOR_RETRY_PERIOD');
    // One column each, however long the longest flag: every variable starts at the same offset.
    const options = usage()
      .split('\n')
      .filter((line) => line.startsWith('  --'));
    const columns = new Set(options.map((line) => line.indexOf(' PGWARDEN_OPERATOR_')));
    expect(columns.size).toBe(1);
    expect(options.length).toBeGreaterThan(30);
  });
});
