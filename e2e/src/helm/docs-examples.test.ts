import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useControlPlane } from '../control-plane/vitest.js';
import { run } from '../harness/process.js';
import { CHART_DIR, helm, kubectlName, parseObjects, waitForCrds } from './chart.js';

// Every example under docs/examples is used here the way the docs use it, so
// none can rot: Kubernetes objects created on a real API server with the
// generated CRDs (after a server-side dry-run), the policy compiled by
// `pgwarden policy test`, the Helm values rendered and linted with the chart.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const examplesDir = join(repoRoot, 'docs/examples');
const crdsDir = join(repoRoot, 'crds/manifests');
const cli = join(repoRoot, 'sidecar/dist/cli/main.js');

const helmValues = ['values-production.yaml'];
// Namespace first: every other example lives in it.
const manifests = [
  'namespace.yaml',
  'database-connection.yaml',
  'agent-access-policy.yaml',
  'approvers.yaml',
  'agent.yaml',
];

describe('docs/examples', () => {
  const k8s = useControlPlane();

  it('every file under docs/examples is one of the checked examples', () => {
    expect(readdirSync(examplesDir).sort()).toEqual([...helmValues, ...manifests].sort());
  });

  it('the Kubernetes examples pass server-side dry-run and are created, in the order the quick start applies them', async () => {
    await k8s().kubectlOk(['apply', '--server-side', '-f', crdsDir]);
    await waitForCrds(k8s());
    for (const file of manifests) {
      const path = join(examplesDir, file);
      const expected = parseObjects(readFileSync(path, 'utf8')).map(kubectlName);
      // The namespace must exist before a dry-run of what lives in it can pass.
      if (file !== 'namespace.yaml') await k8s().kubectlOk(['apply', '--dry-run=server', '-f', path]);
      const created = await k8s().kubectlOk(['create', '-f', path, '-o', 'name']);
      expect(created.trim().split('\n'), file).toEqual(expected);
    }
    const policy = JSON.parse(
      await k8s().kubectlOk(['get', 'agentaccesspolicy', 'support-agent', '-n', 'agents', '-o', 'json']),
    ) as { spec: { rules: { name: string }[] } };
    expect(policy.spec.rules.map((r) => r.name)).toContain('writes-need-approval');
  });

  it('the example policy compiles and decides as the docs say', async () => {
    const result = await run(process.execPath, [
      cli,
      ...['policy', 'test', '--policy', join(examplesDir, 'agent-access-policy.yaml')],
      ...['-c', 'SELECT ssn FROM customers', '-c', 'DELETE FROM orders', '-c', 'DROP TABLE orders'],
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/allow +reads .*SELECT ssn FROM customers/);
    expect(result.stdout).toMatch(/approve +writes-need-approval .*DELETE FROM orders/);
    expect(result.stdout).toMatch(/deny +no-ddl .*DROP TABLE orders/);
  });

  it.each(helmValues)('%s renders and lints with the chart', async (file) => {
    const values = ['-f', join(examplesDir, file)];
    const lint = await helm(['lint', '--strict', CHART_DIR, ...values]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const rendered = await helm([
      'template',
      'pgwarden',
      CHART_DIR,
      '--namespace',
      'pgwarden-system',
      ...values,
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const kinds = parseObjects(rendered.stdout).map((o) => o.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['Deployment', 'PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule']),
    );
  });
});
