import { describe, expect, it } from 'vitest';
import { ConfigError, envName, loadConfig, usage } from '../src/process/config.js';

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
    const fail = (argv: string[]) => {
      try {
        loadConfig(argv, {});
      } catch (error) {
        if (error instanceof ConfigError) return error.message;
        throw error;
      }
      throw new Error('accepted');
    };
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

  it('documents every option with its variable', () => {
    expect(usage()).toContain('--retry-period');
    expect(usage()).toContain('PGWARDEN_OPERATOR_RETRY_PERIOD');
  });
});
