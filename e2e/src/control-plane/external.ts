import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findOnPath, run } from '../harness/process.js';
import { openssl } from '../harness/tls.js';
import {
  type ClientUser,
  E2E_NAMESPACE_LABEL,
  type KubectlOptions,
  kubectlOutput,
  namespaceManifest,
  PART_OF_LABEL,
  type TestCluster,
} from './cluster.js';
import { writeKubeconfig } from './kubeconfig.js';
import { type ClientSubject, subjectOf } from './pki.js';

// An existing cluster (kind, or any other) named by PGWARDEN_E2E_KUBECONFIG.
// The suite owns nothing there but what it creates: namespaces labelled
// pgwarden.io/e2e, cluster-scoped objects labelled part-of=pgwarden, and its
// CertificateSigningRequests. It refuses a cluster that already has such
// objects (an installation, or leftovers of an aborted run) and deletes its
// own in stop().

const clusterScoped =
  'crd,clusterrole,clusterrolebinding,mutatingwebhookconfiguration,validatingwebhookconfiguration';
const webhookConfigurations = 'mutatingwebhookconfiguration,validatingwebhookconfiguration';
// Enough for a namespace whose pods have a 30 s grace period.
const deleteTimeoutMs = 180_000;
const signTimeoutMs = 30_000;

/**
 * Connects to the cluster of `kubeconfig` (its current context) after checking
 * it is reachable and free of pgwarden objects. kubectl: `options.kubectl`,
 * PGWARDEN_E2E_KUBECTL, or the first on PATH.
 */
export async function connectExternalCluster(
  kubeconfig: string,
  options: { kubectl?: string } = {},
): Promise<TestCluster> {
  const path = resolve(kubeconfig);
  if (!existsSync(path)) throw new Error(`PGWARDEN_E2E_KUBECONFIG=${kubeconfig}: no such file`);
  const cluster = new ExternalCluster(
    path,
    options.kubectl ?? findKubectl(),
    await mkdtemp(join(tmpdir(), 'pgwarden-ext-')),
  );
  try {
    await cluster.init();
  } catch (error) {
    await rm(cluster.tempDir, { recursive: true, force: true });
    throw error;
  }
  return cluster;
}

function findKubectl(): string {
  const kubectl = process.env.PGWARDEN_E2E_KUBECTL || findOnPath('kubectl');
  if (kubectl) return kubectl;
  throw new Error(
    'PGWARDEN_E2E_KUBECONFIG is set, so the suite runs against that cluster with kubectl from PATH, ' +
      'and there is none: install kubectl or set PGWARDEN_E2E_KUBECTL to its path',
  );
}

class ExternalCluster implements TestCluster {
  readonly kubeconfig: string;
  readonly tempDir: string;
  readonly local = undefined;
  readonly #kubectlBin: string;
  readonly #csrs: string[] = [];
  #server = '';
  #caPem = '';
  #stopping: Promise<void> | undefined;

  constructor(kubeconfig: string, kubectl: string, tempDir: string) {
    this.kubeconfig = kubeconfig;
    this.#kubectlBin = kubectl;
    this.tempDir = tempDir;
  }

  async init(): Promise<void> {
    const version = await this.kubectl(['version', '-o', 'json'], { timeoutMs: 30_000 });
    if (version.code !== 0) {
      throw new Error(`the cluster of ${this.kubeconfig} is not reachable:\n${version.stderr.trim()}`);
    }
    const view = JSON.parse(
      await this.kubectlOk(['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json']),
    ) as { clusters: { cluster: { server: string; 'certificate-authority-data'?: string } }[] };
    const cluster = view.clusters[0]?.cluster;
    this.#server = cluster?.server ?? '';
    this.#caPem = Buffer.from(cluster?.['certificate-authority-data'] ?? '', 'base64').toString();
    const leftovers = [
      await this.kubectlOk(['get', clusterScoped, '-l', PART_OF_LABEL, '-o', 'name']),
      await this.kubectlOk(['get', 'namespaces', '-l', E2E_NAMESPACE_LABEL, '-o', 'name']),
    ].join('');
    if (leftovers.trim() !== '') {
      throw new Error(
        `the cluster of ${this.kubeconfig} already has pgwarden objects, and the e2e suite only touches its own:\n` +
          `${leftovers.trim()}\nUse a cluster without pgwarden (make e2e-kind), or, if these are leftovers of ` +
          `an aborted run: kubectl delete namespace -l ${E2E_NAMESPACE_LABEL}; ` +
          `kubectl delete ${clusterScoped} -l ${PART_OF_LABEL}`,
      );
    }
  }

  kubectl(args: readonly string[], { input, kubeconfig = this.kubeconfig, timeoutMs }: KubectlOptions = {}) {
    return run(this.#kubectlBin, ['--kubeconfig', kubeconfig, ...args], {
      input,
      timeoutMs,
      env: { KUBECONFIG: undefined, KUBECACHEDIR: join(this.tempDir, 'kube-cache') },
    });
  }

  async kubectlOk(args: readonly string[], options?: KubectlOptions): Promise<string> {
    return kubectlOutput(args, await this.kubectl(args, options));
  }

  async createNamespace(name: string): Promise<void> {
    await this.kubectlOk(['create', '-f', '-'], { input: namespaceManifest(name) });
  }

  /**
   * Service accounts get a token: the API server authenticates it as the
   * account, with exactly the groups a pod of that account has, on any
   * cluster (not every cluster signs kube-apiserver-client certificates).
   */
  async kubeconfigFor(subject: ClientSubject): Promise<string> {
    const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(subject.user);
    if (!account) return (await this.mintUser(subject)).kubeconfig;
    const [, namespace = '', name = ''] = account;
    const implied = ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];
    const extra = (subject.groups ?? []).filter((g) => !implied.includes(g));
    if (extra.length > 0) {
      throw new Error(`${subject.user}: a service-account token cannot carry the groups ${extra.join(', ')}`);
    }
    this.#requireCa();
    await this.kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } }),
    });
    const token = (
      await this.kubectlOk(['create', 'token', name, '-n', namespace, '--duration', '2h'])
    ).trim();
    const kubeconfig = join(this.tempDir, `sa-${namespace}-${name}.kubeconfig`);
    await writeKubeconfig(kubeconfig, this.#server, this.#caPem, { name: subject.user, token });
    return kubeconfig;
  }

  /**
   * Signed by the cluster through the CertificateSigningRequest API
   * (signer kubernetes.io/kube-apiserver-client, approved by the admin), so
   * it works where the CA key is out of reach; kind's controller-manager signs these.
   */
  async mintUser(subject: ClientSubject): Promise<ClientUser> {
    this.#requireCa();
    const name = `pgwarden-e2e-${this.#csrs.length}-${Date.now().toString(36)}`;
    const base = join(this.tempDir, name);
    const config = join(this.tempDir, 'openssl.cnf');
    await writeFile(config, '[req]\ndistinguished_name = dn\n[dn]\n');
    await openssl([
      ...['req', '-config', config, '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
      ...['-nodes', '-subj', subjectOf(subject), '-keyout', `${base}.key`, '-out', `${base}.csr`],
    ]);
    this.#csrs.push(name);
    await this.kubectlOk(['create', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'certificates.k8s.io/v1',
        kind: 'CertificateSigningRequest',
        metadata: { name, labels: { [E2E_NAMESPACE_LABEL]: 'true' } },
        spec: {
          request: (await readFile(`${base}.csr`)).toString('base64'),
          signerName: 'kubernetes.io/kube-apiserver-client',
          expirationSeconds: 86_400,
          usages: ['client auth'],
        },
      }),
    });
    await this.kubectlOk(['certificate', 'approve', name]);
    const certPem = await this.#signed(name);
    const certFile = `${base}.crt`;
    await writeFile(certFile, certPem);
    const keyPem = await readFile(`${base}.key`, 'utf8');
    const kubeconfig = `${base}.kubeconfig`;
    await writeKubeconfig(kubeconfig, this.#server, this.#caPem, { name: subject.user, certPem, keyPem });
    return {
      certFile,
      keyFile: `${base}.key`,
      certPem,
      keyPem,
      user: subject.user,
      groups: subject.groups ?? [],
      kubeconfig,
    };
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const remove = (what: string, ...selector: string[]) =>
        this.kubectlOk(['delete', what, ...selector, '--ignore-not-found', '--wait', '--timeout=170s'], {
          timeoutMs: deleteTimeoutMs,
        });
      // Webhooks first: nothing may call an operator that is gone while the rest is deleted.
      await remove(webhookConfigurations, '-l', PART_OF_LABEL);
      await remove('namespaces', '-l', E2E_NAMESPACE_LABEL);
      await remove(clusterScoped, '-l', PART_OF_LABEL);
      if (this.#csrs.length > 0) await remove('csr', ...this.#csrs);
      await rm(this.tempDir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  #requireCa(): void {
    if (this.#caPem === '') {
      throw new Error(`the current cluster of ${this.kubeconfig} has no certificate-authority-data`);
    }
  }

  async #signed(name: string): Promise<string> {
    const deadline = Date.now() + signTimeoutMs;
    for (;;) {
      const csr = JSON.parse(await this.kubectlOk(['get', 'csr', name, '-o', 'json'])) as {
        status?: { certificate?: string; conditions?: { type: string; message?: string }[] };
      };
      if (csr.status?.certificate) return Buffer.from(csr.status.certificate, 'base64').toString();
      const failed = csr.status?.conditions?.find((c) => c.type === 'Failed' || c.type === 'Denied');
      if (failed)
        throw new Error(`CertificateSigningRequest ${name} ${failed.type}: ${failed.message ?? ''}`);
      if (Date.now() > deadline) {
        throw new Error(
          `CertificateSigningRequest ${name} approved but not signed after ${signTimeoutMs} ms: ` +
            'the cluster needs a signer for kubernetes.io/kube-apiserver-client (kube-controller-manager with --cluster-signing-cert-file, as in kind)',
        );
      }
      await sleep(250);
    }
  }
}
