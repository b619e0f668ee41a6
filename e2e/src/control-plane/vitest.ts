import { afterAll, beforeAll, it } from 'vitest';
import { externalKubeconfig, type TestCluster } from './cluster.js';
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './control-plane.js';
import { connectExternalCluster } from './external.js';

// The first start on a machine compiles the binaries (build.sh, ~5 min on 2
// cores); later starts take a few seconds.
const startTimeoutMs = 15 * 60_000;

/**
 * One etcd + kube-apiserver for the enclosing suite, started in beforeAll and
 * stopped in afterAll. Returns a getter because the control plane does not
 * exist yet while vitest collects the suite:
 *
 *   const k8s = useControlPlane();
 *   it('…', async () => { await k8s().kubectlOk(['get', 'ns']); });
 */
export function useControlPlane(options?: ControlPlaneOptions): () => ControlPlane {
  let controlPlane: ControlPlane | undefined;
  beforeAll(async () => {
    controlPlane = await startControlPlane(options);
  }, startTimeoutMs);
  afterAll(async () => {
    await controlPlane?.stop();
    controlPlane = undefined;
  });
  return () => {
    if (!controlPlane) {
      throw new Error(
        'useControlPlane(): the control plane exists only inside the tests and hooks of the suite that declared it',
      );
    }
    return controlPlane;
  };
}

// Deleting what a suite created on an external cluster waits for its namespaces to go.
const externalStopTimeoutMs = 5 * 60_000;

/**
 * The cluster for the enclosing suite: the local control plane (as
 * {@link useControlPlane}), or, when PGWARDEN_E2E_KUBECONFIG names a
 * kubeconfig, that cluster; what the suite created there is deleted in
 * afterAll. Suites that can also run on a real cluster use this one.
 */
export function useCluster(options?: ControlPlaneOptions): () => TestCluster {
  const kubeconfig = externalKubeconfig();
  if (kubeconfig === undefined) return useControlPlane(options);
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    cluster = await connectExternalCluster(kubeconfig);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    cluster = undefined;
  }, externalStopTimeoutMs);
  return () => {
    if (!cluster) {
      throw new Error(
        'useCluster(): the cluster exists only inside the tests and hooks of the suite that declared it',
      );
    }
    return cluster;
  };
}

/**
 * Prints that a step does not run on the external cluster, and why. Every
 * skip by design goes through here, so an external run says what it did not cover.
 */
export function reportSkippedOnExternal(step: string, reason: string): void {
  process.stdout.write(`[external cluster] skipped by design: ${step}: ${reason}\n`);
}

/**
 * `it`, or, when `skipReason` is given, a skipped test whose reason is printed
 * when the suite is collected (never a silent skip).
 */
export function itUnless(skipReason: string | undefined): typeof it {
  if (skipReason === undefined) return it;
  return ((name: string, ...rest: unknown[]) => {
    reportSkippedOnExternal(name, skipReason);
    return (it.skip as (...args: unknown[]) => void)(name, ...rest);
  }) as typeof it;
}

/** `it` on the local control plane; on an external cluster a skipped test, its reason printed. */
export function itLocalOnly(reason: string): typeof it {
  return itUnless(externalKubeconfig() === undefined ? undefined : reason);
}
