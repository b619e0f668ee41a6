import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestCluster } from '../control-plane/cluster.js';
import { run } from '../harness/process.js';

/** The cert-manager release whose CRDs the chart's certManager objects are checked against. */
export const CERT_MANAGER_VERSION = 'v1.21.2';

/**
 * cert-manager's Certificate, Issuer and ClusterIssuer CRDs (deploy/crds of
 * its Go module), fetched like the control plane's sources: through the Go
 * module proxy into the module cache, so once there they need no network.
 * Only the CRDs: no cert-manager controller runs here.
 */
async function certManagerCrdFiles(): Promise<string[]> {
  const module = `github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}`;
  // Outside any go.mod, so the download is of the module alone.
  const result = await run('go', ['mod', 'download', '-json', module], { cwd: tmpdir(), timeoutMs: 300_000 });
  if (result.code !== 0) {
    throw new Error(
      `go mod download ${module} (cert-manager's CRDs) failed:\n${result.stdout}${result.stderr}`,
    );
  }
  const { Dir } = JSON.parse(result.stdout) as { Dir: string };
  return ['certificates', 'issuers', 'clusterissuers'].map((plural) =>
    join(Dir, 'deploy', 'crds', `cert-manager.io_${plural}.yaml`),
  );
}

/** Installs cert-manager's CRDs ({@link certManagerCrdFiles}) and waits until they are served. */
export async function installCertManagerCrds(cluster: TestCluster): Promise<void> {
  const files = await certManagerCrdFiles();
  // Server-side: the Issuer CRDs are too large for client-side apply's annotation.
  await cluster.kubectlOk(['apply', '--server-side', ...files.flatMap((f) => ['-f', f])]);
  const crds = ['certificates', 'issuers', 'clusterissuers'].map((plural) => `${plural}.cert-manager.io`);
  await cluster.kubectlOk(['wait', '--for=condition=Established', 'crd', ...crds]);
}
