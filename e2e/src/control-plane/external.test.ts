import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { externalKubeconfig, PART_OF_LABEL, type TestCluster } from './cluster.js';
import { connectExternalCluster } from './external.js';
import { useControlPlane } from './vitest.js';

// The external-cluster handle (PGWARDEN_E2E_KUBECONFIG) against the local
// control plane standing in for a real cluster. It has no
// kube-controller-manager, so what needs one (CSR signing, namespace
// deletion) is exercised only on kind (make e2e-kind).

const clusterRole = (name: string) =>
  JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'pgwarden' } },
    rules: [],
  });

describe('external cluster', () => {
  const k8s = useControlPlane();
  const connected: TestCluster[] = [];
  const connect = async () => {
    const cluster = await connectExternalCluster(k8s().kubeconfig, {
      kubectl: join(k8s().binDir, 'kubectl'),
    });
    connected.push(cluster);
    return cluster;
  };
  afterEach(async () => {
    for (const cluster of connected.splice(0)) await cluster.stop();
  });

  it('is chosen by PGWARDEN_E2E_KUBECONFIG only, never by KUBECONFIG', () => {
    const saved = { own: process.env.PGWARDEN_E2E_KUBECONFIG, kube: process.env.KUBECONFIG };
    try {
      delete process.env.PGWARDEN_E2E_KUBECONFIG;
      process.env.KUBECONFIG = '/home/dev/.kube/config';
      expect(externalKubeconfig()).toBeUndefined();
      process.env.PGWARDEN_E2E_KUBECONFIG = '';
      expect(externalKubeconfig()).toBeUndefined();
      process.env.PGWARDEN_E2E_KUBECONFIG = '/tmp/kind.kubeconfig';
      expect(externalKubeconfig()).toBe('/tmp/kind.kubeconfig');
    } finally {
      for (const [key, value] of [
        ['PGWARDEN_E2E_KUBECONFIG', saved.own],
        ['KUBECONFIG', saved.kube],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('authenticates a service-account user with a token of the account itself, and only with its groups', async () => {
    const cluster = await connect();
    const user = 'system:serviceaccount:default:robot';
    const kubeconfig = await cluster.kubeconfigFor({ user, groups: ['system:serviceaccounts'] });
    const whoami = JSON.parse(await cluster.kubectlOk(['auth', 'whoami', '-o', 'json'], { kubeconfig })) as {
      status: { userInfo: { username: string; groups: string[] } };
    };
    expect(whoami.status.userInfo.username).toBe(user);
    expect(whoami.status.userInfo.groups).toEqual(
      expect.arrayContaining(['system:serviceaccounts', 'system:serviceaccounts:default']),
    );
    await expect(cluster.kubeconfigFor({ user, groups: ['platform'] })).rejects.toThrow(
      'a service-account token cannot carry the groups platform',
    );
  });

  it('refuses a cluster that has pgwarden objects, and removes those a suite created when it stops', async () => {
    await k8s().kubectlOk(['create', '-f', '-'], { input: clusterRole('pgwarden-installed') });
    await expect(connect()).rejects.toThrow(
      /already has pgwarden objects, and the e2e suite only touches its own:\nclusterrole\.rbac\.authorization\.k8s\.io\/pgwarden-installed\n/,
    );
    await k8s().kubectlOk(['delete', 'clusterrole', 'pgwarden-installed']);

    const cluster = await connect();
    await cluster.kubectlOk(['create', '-f', '-'], { input: clusterRole('pgwarden-from-a-suite') });
    await cluster.stop();
    expect(await k8s().kubectlOk(['get', 'clusterrole', '-l', PART_OF_LABEL, '-o', 'name'])).toBe('');
  });
});
