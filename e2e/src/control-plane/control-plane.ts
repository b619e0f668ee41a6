import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../harness/port.js';
import { run } from '../harness/process.js';
import { controlPlaneBin } from './binaries.js';
import {
  type ClientUser,
  type KubectlOptions,
  kubectlOutput,
  namespaceManifest,
  type TestCluster,
} from './cluster.js';
import { type Daemon, startDaemon } from './daemon.js';
import { httpsGet } from './https.js';
import { writeKubeconfig } from './kubeconfig.js';
import {
  type ClientSubject,
  type ControlPlanePki,
  createControlPlanePki,
  type KeyPair,
  mintClientCertificate,
} from './pki.js';
import { guardProcesses, type ProcessGuard } from './reaper.js';

/** etcd + kube-apiserver on loopback; see {@link startControlPlane}. */
export interface ControlPlane extends TestCluster {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** Admin kubeconfig (O=system:masters), for kubectl, helm and @kubernetes/client-node. */
  readonly kubeconfig: string;
  /** The CA that signs the serving certificate and every client certificate. */
  readonly caPem: string;
  readonly admin: KeyPair;
  /** The service-account token issuer (`iss` of projected tokens). */
  readonly serviceAccountIssuer: string;
  /** Holds the PKI, etcd's data, the logs and the kubeconfigs; gone after stop(). */
  readonly tempDir: string;
  readonly binDir: string;
  /** Itself. */
  readonly local: ControlPlane;
  /** Stops kube-apiserver (SIGTERM); etcd and the data stay. */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and waits for /readyz. */
  startApiServer(): Promise<void>;
  /** Stops kube-apiserver and etcd and deletes the temp directory; safe to call repeatedly. */
  stop(): Promise<void>;
  /** The last lines of kube-apiserver's (or etcd's) log, for failure messages. */
  logTail(name: 'kube-apiserver' | 'etcd', lines?: number): Promise<string>;
}

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, e.g. ['--feature-gates=…']; appended last, so they win. */
  apiServerFlags?: readonly string[];
}

const portAttempts = 3;
const readyTimeoutMs = 60_000;

/**
 * Starts etcd and kube-apiserver envtest-style: loopback only, random ports, a
 * fresh PKI, client-certificate authentication, RBAC authorization,
 * service-account issuer and keys (TokenRequest works), and no ServiceAccount
 * admission plugin (no controller-manager creates the token controllers'
 * objects). Builds the binaries first when they are not cached.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const [etcd, apiserver, kubectl] = await Promise.all([
    controlPlaneBin('etcd'),
    controlPlaneBin('kube-apiserver'),
    controlPlaneBin('kubectl'),
  ]);
  const tempDir = await mkdtemp(join(tmpdir(), 'pgwarden-k8s-'));
  const cluster = new Cluster(tempDir, { etcd, apiserver, kubectl }, options);
  try {
    await cluster.init();
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
  return cluster;
}

interface Binaries {
  etcd: string;
  apiserver: string;
  kubectl: string;
}

class Cluster implements ControlPlane {
  readonly tempDir: string;
  readonly binDir: string;
  readonly kubeconfig: string;
  readonly #bins: Binaries;
  readonly #options: ControlPlaneOptions;
  readonly #guard: ProcessGuard;
  #pki: ControlPlanePki | undefined;
  #etcd: Daemon | undefined;
  #etcdUrl = '';
  #apiserver: Daemon | undefined;
  #port = 0;
  #stopping: Promise<void> | undefined;

  constructor(tempDir: string, bins: Binaries, options: ControlPlaneOptions) {
    this.tempDir = tempDir;
    this.binDir = join(bins.kubectl, '..');
    this.kubeconfig = join(tempDir, 'admin.kubeconfig');
    this.#bins = bins;
    this.#options = options;
    this.#guard = guardProcesses(tempDir);
  }

  get local(): ControlPlane {
    return this;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.#port}`;
  }

  get serviceAccountIssuer(): string {
    return this.url;
  }

  get caPem(): string {
    return this.#requirePki().ca.certPem;
  }

  get admin(): KeyPair {
    return this.#requirePki().admin;
  }

  async init(): Promise<void> {
    this.#pki = await createControlPlanePki(join(this.tempDir, 'pki'));
    await this.#startEtcd();
    for (let attempt = 1; ; attempt++) {
      this.#port = await freePort();
      try {
        await this.startApiServer();
        break;
      } catch (error) {
        const log = (await this.#apiserver?.logTail(200)) ?? '';
        if (attempt < portAttempts && log.includes('address already in use')) continue;
        throw error;
      }
    }
    await writeKubeconfig(this.kubeconfig, this.url, this.caPem, { name: 'admin', ...this.admin });
  }

  kubectl(args: readonly string[], { input, kubeconfig = this.kubeconfig, timeoutMs }: KubectlOptions = {}) {
    return run(this.#bins.kubectl, ['--kubeconfig', kubeconfig, ...args], {
      input,
      timeoutMs,
      // Only this control plane: no inherited context, cache or plugins.
      env: { KUBECONFIG: undefined, KUBECACHEDIR: join(this.tempDir, 'kube-cache'), HOME: this.tempDir },
    });
  }

  async kubectlOk(args: readonly string[], options?: KubectlOptions): Promise<string> {
    return kubectlOutput(args, await this.kubectl(args, options));
  }

  async createNamespace(name: string): Promise<void> {
    await this.kubectlOk(['create', '-f', '-'], { input: namespaceManifest(name) });
  }

  async kubeconfigFor(subject: ClientSubject): Promise<string> {
    return (await this.mintUser(subject)).kubeconfig;
  }

  async mintUser(subject: ClientSubject): Promise<ClientUser> {
    const pair = await mintClientCertificate(this.#requirePki(), subject);
    const kubeconfig = pair.certFile.replace(/\.crt$/, '.kubeconfig');
    await writeKubeconfig(kubeconfig, this.url, this.caPem, { name: subject.user, ...pair });
    return { ...pair, user: subject.user, groups: subject.groups ?? [], kubeconfig };
  }

  async stopApiServer(): Promise<void> {
    await this.#apiserver?.stop();
    this.#track();
  }

  async startApiServer(): Promise<void> {
    if (this.#apiserver?.running()) throw new Error('kube-apiserver is already running');
    const pki = this.#requirePki();
    this.#apiserver = startDaemon(
      'kube-apiserver',
      this.#bins.apiserver,
      [
        `--etcd-servers=${this.#etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${this.#port}`,
        `--cert-dir=${join(this.tempDir, 'apiserver')}`,
        `--tls-cert-file=${pki.server.certFile}`,
        `--tls-private-key-file=${pki.server.keyFile}`,
        `--client-ca-file=${pki.ca.certFile}`,
        `--service-account-issuer=${this.serviceAccountIssuer}`,
        `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
        `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=RBAC',
        '--disable-admission-plugins=ServiceAccount',
        '--allow-privileged=true',
        // 1.37 refuses a loopback advertise address for the endpoint reconciler.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...(this.#options.apiServerFlags ?? []),
      ],
      join(this.tempDir, 'kube-apiserver.log'),
    );
    this.#track();
    await this.#waitReady();
  }

  logTail(name: 'kube-apiserver' | 'etcd', lines?: number): Promise<string> {
    const daemon = name === 'etcd' ? this.#etcd : this.#apiserver;
    return daemon?.logTail(lines) ?? Promise.resolve('');
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // kube-apiserver first: it would only log etcd errors until killed.
      await this.#apiserver?.stop();
      await this.#etcd?.stop();
      this.#track();
      await rm(this.tempDir, { recursive: true, force: true });
      this.#guard.release();
    })();
    return this.#stopping;
  }

  async #startEtcd(): Promise<void> {
    const dataDir = join(this.tempDir, 'etcd');
    await mkdir(dataDir, { mode: 0o700 });
    for (let attempt = 1; ; attempt++) {
      const [client, peer] = [await freePort(), await freePort()];
      this.#etcdUrl = `http://127.0.0.1:${client}`;
      const peerUrl = `http://127.0.0.1:${peer}`;
      this.#etcd = startDaemon(
        'etcd',
        this.#bins.etcd,
        [
          '--name=pgwarden-test',
          `--data-dir=${dataDir}`,
          `--listen-client-urls=${this.#etcdUrl}`,
          `--advertise-client-urls=${this.#etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=pgwarden-test=${peerUrl}`,
          // Test data: durability is worth nothing, fsync latency is worth a lot.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        join(this.tempDir, 'etcd.log'),
      );
      this.#track();
      try {
        await this.#poll(this.#etcd, async () => {
          const res = await fetch(`${this.#etcdUrl}/health`).catch(() => undefined);
          return res?.ok === true && (await res.text()).includes('"health":"true"');
        });
        return;
      } catch (error) {
        const log = await this.#etcd.logTail(200);
        await this.#etcd.stop();
        if (attempt < portAttempts && log.includes('address already in use')) continue;
        throw error;
      }
    }
  }

  async #waitReady(): Promise<void> {
    const apiserver = this.#apiserver as Daemon;
    const identity = { caPem: this.caPem, certPem: this.admin.certPem, keyPem: this.admin.keyPem };
    await this.#poll(apiserver, async () => {
      const res = await httpsGet(`${this.url}/readyz`, identity).catch(() => undefined);
      return res?.status === 200 && res.body === 'ok';
    });
  }

  /** Polls until ready() or throws with the daemon's log when it dies or the deadline passes. */
  async #poll(daemon: Daemon, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (!daemon.running()) {
        throw new Error(`${daemon.name} exited (${await daemon.exited}):\n${await daemon.logTail()}`);
      }
      if (await ready()) return;
      if (Date.now() > deadline) {
        throw new Error(`${daemon.name} not ready after ${readyTimeoutMs} ms:\n${await daemon.logTail()}`);
      }
      await sleep(100);
    }
  }

  #track(): void {
    this.#guard.track(
      [this.#etcd, this.#apiserver].filter((d) => d?.running()).map((d) => (d as Daemon).pid),
    );
  }

  #requirePki(): ControlPlanePki {
    if (!this.#pki) throw new Error('the control plane is not started yet');
    return this.#pki;
  }
}
