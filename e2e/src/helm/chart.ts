import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { controlPlaneBin } from '../control-plane/binaries.js';
import type { TestCluster } from '../control-plane/cluster.js';
import { type RunResult, run } from '../harness/process.js';

/** charts/pgwarden, from e2e/src/helm and e2e/dist/helm alike. */
export const CHART_DIR = fileURLToPath(new URL('../../../charts/pgwarden', import.meta.url));

/** A rendered Kubernetes object, as far as the chart tests read it. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** `--set`-style values as a flat map: { 'operator.replicas': 3 } → --set-json operator.replicas=3. */
export type ValueSet = Readonly<Record<string, unknown>>;

let helmHome: Promise<string> | undefined;

/**
 * Runs the helm the control-plane build made (helm v4 from Go modules), with
 * its config, cache and data in a temp directory of this process: nothing of
 * the user's helm setup leaks in, nothing is written to $HOME.
 */
export async function helm(
  args: readonly string[],
  options: { kubeconfig?: string } = {},
): Promise<RunResult> {
  helmHome ??= mkdtemp(join(tmpdir(), 'pgwarden-helm-'));
  const home = await helmHome;
  const env = {
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  const kube = options.kubeconfig ? ['--kubeconfig', options.kubeconfig] : [];
  return run(await controlPlaneBin('helm'), [...args, ...kube], { env, timeoutMs: 120_000 });
}

/** The --set-json flags of a value set (JSON keeps numbers and booleans typed). */
export function setFlags(values: ValueSet): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}

/** `helm template` of the chart; throws with helm's message when it fails. */
export async function renderChart(
  values: ValueSet = {},
  { release = 'pgwarden', namespace = 'pgwarden-system' } = {},
): Promise<{ yaml: string; objects: RenderedObject[] }> {
  const result = await helm(['template', release, CHART_DIR, '--namespace', namespace, ...setFlags(values)]);
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return { yaml: result.stdout, objects: parseObjects(result.stdout) };
}

/** Every non-empty document of a multi-document YAML stream; a YAML error (e.g. a duplicate key) throws. */
export function parseObjects(text: string): RenderedObject[] {
  return parseAllDocuments(text, { uniqueKeys: true }).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    const value = doc.toJS() as RenderedObject | null;
    return value ? [value] : [];
  });
}

/** The one rendered object of this kind and name; throws naming what was rendered otherwise. */
export function find(objects: readonly RenderedObject[], kind: string, name?: string): RenderedObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    const rendered = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, found ${found.length} in: ${rendered}`);
  }
  return found[0] as RenderedObject;
}

/** How `kubectl … -o name` prints an object: <kind>.<group>/<name> (core kinds without a group). */
export function kubectlName(o: Pick<RenderedObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}/${o.metadata.name}`;
}

/** Waits until every pgwarden CRD (label part-of=pgwarden) is Established, i.e. served. */
export function waitForCrds(cluster: TestCluster): Promise<string> {
  return cluster.kubectlOk([
    'wait',
    '--for=condition=Established',
    'crd',
    '-l',
    'app.kubernetes.io/part-of=pgwarden',
  ]);
}
