import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '@pgwarden/crds';

/** The API clients the reconcilers use, from one kubeconfig, and how far that identity's Secret reads reach. */
export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** --secret-namespaces: the only namespaces whose Secrets it may read; empty: every namespace. */
  secretNamespaces: readonly string[];
}

/** From a kubeconfig file, or (no path) KUBECONFIG / in-cluster service account, as kubectl does. */
export function kubeClients(kubeconfigPath?: string, secretNamespaces: readonly string[] = []): KubeClients {
  const config = new KubeConfig();
  if (kubeconfigPath) config.loadFromFile(kubeconfigPath);
  else config.loadFromDefault();
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    secretNamespaces,
  };
}

/** A pgwarden resource's coordinates for CustomObjectsApi. */
export function resource(plural: string) {
  return { group: API_GROUP, version: API_VERSION, plural };
}

/** Requests options for a JSON merge patch (RFC 7386), e.g. of a status. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Requests options for a JSON patch (RFC 6902): unlike a merge patch, it can write null values. */
export const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** The HTTP status of a failed API call, if it came from the API server. */
export function apiStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
