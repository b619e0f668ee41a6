import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { isAlive, spawnOwner } from '../harness/owner-process.js';
import { startControlPlane } from './control-plane.js';
import { httpsGet } from './https.js';
import { useControlPlane } from './vitest.js';

describe('control plane', () => {
  const k8s = useControlPlane();

  it('serves the pinned Kubernetes version to kubectl with the admin kubeconfig', async () => {
    const version = JSON.parse(await k8s().kubectlOk(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(version.clientVersion.gitVersion).toBe(version.serverVersion.gitVersion);
    const namespaces = await k8s().kubectlOk(['get', 'namespaces', '-o', 'name']);
    expect(namespaces.split('\n')).toEqual(
      expect.arrayContaining(['namespace/default', 'namespace/kube-system']),
    );
  });

  it('listens on loopback with its own CA and refuses anonymous requests', async () => {
    expect(k8s().url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const anonymous = await httpsGet(`${k8s().url}/api/v1/namespaces`, { caPem: k8s().caPem });
    expect([401, 403]).toContain(anonymous.status);
    await expect(httpsGet(`${k8s().url}/readyz`, { caPem: '' })).rejects.toThrow();
  });

  it('authorizes minted users with RBAC: nothing until a Role is bound to them or their group', async () => {
    const alice = await k8s().mintUser({ user: 'alice', groups: ['platform', 'auditors'] });
    const bob = await k8s().mintUser({ user: 'bob' });
    const whoami = JSON.parse(
      await k8s().kubectlOk(['auth', 'whoami', '-o', 'json'], { kubeconfig: alice.kubeconfig }),
    ) as { status: { userInfo: { username: string; groups: string[] } } };
    expect(whoami.status.userInfo.username).toBe('alice');
    expect(whoami.status.userInfo.groups).toEqual(
      expect.arrayContaining(['platform', 'auditors', 'system:authenticated']),
    );

    const denied = await k8s().kubectl(['get', 'configmaps', '-n', 'default'], {
      kubeconfig: alice.kubeconfig,
    });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('User "alice" cannot list resource "configmaps"');

    await k8s().kubectlOk([
      'create',
      'role',
      'cm-reader',
      '-n',
      'default',
      '--verb=get,list',
      '--resource=configmaps',
    ]);
    await k8s().kubectlOk([
      'create',
      'rolebinding',
      'auditors-read',
      '-n',
      'default',
      '--role=cm-reader',
      '--group=auditors',
    ]);
    await vi.waitFor(
      async () =>
        expect(
          (await k8s().kubectl(['get', 'configmaps', '-n', 'default'], { kubeconfig: alice.kubeconfig }))
            .code,
        ).toBe(0),
      { timeout: 10_000, interval: 200 },
    );
    const other = await k8s().kubectl(['get', 'configmaps', '-n', 'default'], { kubeconfig: bob.kubeconfig });
    expect(other.stderr).toContain('User "bob" cannot list resource "configmaps"');
  });

  it('issues service-account tokens for an audience, signed by its issuer (TokenRequest)', async () => {
    await k8s().kubectlOk(['create', 'serviceaccount', 'agent', '-n', 'default']);
    const token = (
      await k8s().kubectlOk([
        'create',
        'token',
        'agent',
        '-n',
        'default',
        '--audience=pgwarden.io',
        '--duration=10m',
      ])
    ).trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      iss: string;
      aud: string[];
      sub: string;
      exp: number;
      iat: number;
    };
    expect(claims.iss).toBe(k8s().serviceAccountIssuer);
    expect(claims.aud).toEqual(['pgwarden.io']);
    expect(claims.sub).toBe('system:serviceaccount:default:agent');
    expect(claims.exp - claims.iat).toBe(600);
  });

  it('keeps its data across a kube-apiserver restart on the same port', async () => {
    await k8s().kubectlOk(['create', 'configmap', 'survivor', '-n', 'default', '--from-literal=a=1']);
    const port = k8s().port;
    await k8s().stopApiServer();
    const down = await k8s().kubectl(['get', 'configmap', 'survivor', '-n', 'default'], {
      timeoutMs: 20_000,
    });
    expect(down.code).not.toBe(0);
    await k8s().startApiServer();
    expect(k8s().port).toBe(port);
    expect(
      await k8s().kubectlOk(['get', 'configmap', 'survivor', '-n', 'default', '-o', 'jsonpath={.data.a}']),
    ).toBe('1');
  });
});

describe('control plane lifecycle', () => {
  it('leaves no process and no directory behind after stop()', async () => {
    const k8s = await startControlPlane();
    const pgids = readPgids(k8s.tempDir);
    expect(pgids).toHaveLength(2);
    expect(pgids.every(isAlive)).toBe(true);
    await k8s.stop();
    await k8s.stop();
    expect(pgids.some(isAlive)).toBe(false);
    expect(existsSync(k8s.tempDir)).toBe(false);
  });

  const ownerBody = `
    const k8s = await mod.startControlPlane();
    console.log(JSON.stringify({ tempDir: k8s.tempDir }));
    // 'exit': a normal exit, when the test says so (after it saw the processes alive).
    process.on('SIGUSR2', () => process.exit(0));
    setInterval(() => {}, 1000);
  `;

  it.each(['exit', 'SIGKILL'] as const)(
    'kills etcd and kube-apiserver after an owner that ends by %s',
    async (ending) => {
      const {
        child: owner,
        report,
        exited,
      } = spawnOwner(new URL('./control-plane.ts', import.meta.url), ownerBody, ending);
      try {
        const { tempDir } = (await report) as { tempDir: string };
        const pgids = readPgids(tempDir);
        expect(pgids.every(isAlive)).toBe(true);
        owner.kill(ending === 'exit' ? 'SIGUSR2' : 'SIGKILL');
        await exited;
        await vi.waitFor(
          () => {
            expect(pgids.some(isAlive)).toBe(false);
            expect(existsSync(tempDir)).toBe(false);
          },
          { timeout: 15_000, interval: 100 },
        );
      } finally {
        owner.kill('SIGKILL');
      }
    },
  );
});

function readPgids(tempDir: string): number[] {
  return readFileSync(`${tempDir}/pgids`, 'utf8').split('\n').filter(Boolean).map(Number);
}
