import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../harness/process.js';

/** The cert-manager release whose CRDs the chart's certManager objects are checked against. */
export const CERT_MANAGER_VERSION = 'v1.21.2';

/**
 * cert-manager's Certificate, Issuer and ClusterIssuer CRDs (deploy/crds of
 * its Go module), fetched like the control plane's sources: through the Go
 * module proxy into the module cache, so once there they need no network.
 * Only the CRDs: no cert-manager controller runs here.
 */
export async function certManagerCrdFiles(): Promise<string[]> {
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
