import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestCluster } from '../control-plane/cluster.js';
import { freePort } from '../harness/port.js';
import { find, type RenderedObject } from './chart.js';

/** The operator's CLI from the workspace build (make build). */
export const OPERATOR_MAIN = fileURLToPath(new URL('../../../operator/dist/main.js', import.meta.url));

/** The arguments of the rendered Deployment's operator container. */
export function deploymentArgs(objects: readonly RenderedObject[]): string[] {
  const deployment = find(objects, 'Deployment') as RenderedObject & {
    spec: { template: { spec: { containers: { args: string[] }[] } } };
  };
  return deployment.spec.template.spec.containers[0]?.args ?? [];
}

export interface ChartOperator {
  readonly child: ChildProcess;
  /** Its stdout lines (JSON) and stderr chunks so far. */
  readonly logs: string[];
  readonly adminPort: number;
  readonly webhookPort: number;
  readonly exited: Promise<number | null>;
}

/**
 * The chart's operator container run here as a process: the rendered
 * Deployment's arguments, except the listeners (loopback, free ports), the
 * certificate's host (the API server here calls 127.0.0.1, not the Service)
 * and whatever `replace` sets instead; under the chart's ServiceAccount (its
 * user, so the chart's RBAC applies) in the release namespace.
 */
export async function runChartOperator(
  cluster: TestCluster,
  objects: readonly RenderedObject[],
  o: { namespace: string; serviceAccount: string; replace?: Record<string, string> },
): Promise<ChartOperator> {
  const [adminPort, webhookPort] = [await freePort(), await freePort()];
  const local: Record<string, string> = {
    'admin-listen': `127.0.0.1:${adminPort}`,
    'webhook-listen': `127.0.0.1:${webhookPort}`,
    'webhook-hosts': '127.0.0.1',
    ...o.replace,
  };
  const args = deploymentArgs(objects).filter(
    (a) => !Object.keys(local).some((k) => a.startsWith(`--${k}=`)),
  );
  const identity = await cluster.mintUser({
    user: `system:serviceaccount:${o.namespace}:${o.serviceAccount}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${o.namespace}`],
  });
  const child = spawn(
    process.execPath,
    [
      OPERATOR_MAIN,
      ...args,
      `--kubeconfig=${identity.kubeconfig}`,
      ...Object.entries(local).map(([flag, value]) => `--${flag}=${value}`),
    ],
    { env: { ...process.env, POD_NAMESPACE: o.namespace }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => logs.push(...chunk.split('\n')));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, logs, adminPort, webhookPort, exited };
}
