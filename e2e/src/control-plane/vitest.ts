import { afterAll, beforeAll } from 'vitest';
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from './control-plane.js';

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
