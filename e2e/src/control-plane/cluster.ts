import type { RunResult } from '../harness/process.js';
import type { ControlPlane } from './control-plane.js';
import type { ClientSubject, KeyPair } from './pki.js';

/** A user with a client certificate and a kubeconfig of its own, for RBAC tests. */
export interface ClientUser extends KeyPair {
  user: string;
  groups: readonly string[];
  kubeconfig: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `-f -`). */
  input?: string;
  /** Another user's kubeconfig; default the admin's. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/**
 * What an e2e suite needs from a Kubernetes cluster, whichever it is: the
 * local control plane (default) or an external one named by
 * PGWARDEN_E2E_KUBECONFIG (see {@link externalKubeconfig}).
 */
export interface TestCluster {
  /** Admin kubeconfig, for kubectl, helm and @kubernetes/client-node. */
  readonly kubeconfig: string;
  /** Runs kubectl against this cluster; a non-zero exit is a result, not an error. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<RunResult>;
  /** Like kubectl(), but throws with kubectl's stderr on a non-zero exit; returns stdout. */
  kubectlOk(args: readonly string[], options?: KubectlOptions): Promise<string>;
  /** A client certificate (CN=user, O=each group) and a kubeconfig for it. No RBAC is granted. */
  mintUser(subject: ClientSubject): Promise<ClientUser>;
  /**
   * A kubeconfig that authenticates as `subject`: mintUser's on the local
   * control plane; on an external cluster, for a service-account user
   * (system:serviceaccount:<ns>:<name>), a TokenRequest token of that account
   * (created when missing), else mintUser's.
   */
  kubeconfigFor(subject: ClientSubject): Promise<string>;
  /**
   * Creates a namespace labelled {@link E2E_NAMESPACE_LABEL}; on an external
   * cluster, stop() deletes every namespace with that label.
   */
  createNamespace(name: string): Promise<void>;
  /**
   * The local control plane, for what only it allows (restarting
   * kube-apiserver); undefined on an external cluster.
   */
  readonly local: ControlPlane | undefined;
  /** Stops the local control plane, or removes what the suite created on an external cluster. */
  stop(): Promise<void>;
}

/** Marks the namespaces an e2e suite created, so an external cluster is left as it was found. */
export const E2E_NAMESPACE_LABEL = 'pgwarden.io/e2e';

/** A Namespace labelled {@link E2E_NAMESPACE_LABEL}, for `kubectl create -f -`. */
export function namespaceManifest(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { [E2E_NAMESPACE_LABEL]: 'true' } },
  });
}

/** The label every cluster-scoped pgwarden object carries (CRDs, RBAC, webhook configurations). */
export const PART_OF_LABEL = 'app.kubernetes.io/part-of=pgwarden';

/**
 * The kubeconfig of the external cluster the e2e suites should use, or
 * undefined for the local control plane. Only PGWARDEN_E2E_KUBECONFIG selects
 * one: KUBECONFIG is ignored, so a developer's own cluster is never picked up
 * by accident.
 */
export function externalKubeconfig(): string | undefined {
  const path = process.env.PGWARDEN_E2E_KUBECONFIG;
  return path === undefined || path === '' ? undefined : path;
}

/** The local control plane behind `cluster`; throws on an external cluster (use itLocalOnly for such steps). */
export function localControlPlane(cluster: TestCluster): ControlPlane {
  if (!cluster.local) throw new Error('this step needs the local control plane, not an external cluster');
  return cluster.local;
}

/** kubectl's stdout, or an error with its stderr when it exited non-zero (for kubectlOk). */
export function kubectlOutput(args: readonly string[], result: RunResult): string {
  if (result.code !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')} failed (${result.code ?? result.signal}):\n${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}
