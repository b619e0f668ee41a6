import type { CoreV1Api } from '@kubernetes/client-node';
import type { DatabaseConnectionReason, DatabaseConnectionSpec, DynamicCredentials } from '@pgwarden/crds';
import { apiStatus, type KubeClients } from '../kube/clients.js';

export interface Credentials {
  user: string;
  password: string;
  /** PEM CA for verify-ca / verify-full. */
  caPem?: string;
}

/**
 * static: `credentials` is the role grants hand out. dynamic: `credentials` is
 * the ADMIN role, for the probe and for making per-grant roles only; it must
 * never reach a grant.
 */
export type CredentialsResult =
  | { ok: true; mode: 'static'; credentials: Credentials }
  | { ok: true; mode: 'dynamic'; credentials: Credentials; dynamic: DynamicCredentials }
  | { ok: false; reason: DatabaseConnectionReason; message: string };

type Failure = Extract<CredentialsResult, { ok: false }>;

/**
 * Reads the Secrets a DatabaseConnection names; a missing Secret or key, or a
 * namespace outside --secret-namespaces, is a result, not an error.
 */
export async function readCredentials(
  clients: KubeClients,
  namespace: string,
  spec: DatabaseConnectionSpec,
): Promise<CredentialsResult> {
  const outside = secretNamespaceRefusal(clients.secretNamespaces, namespace);
  if (outside) return outside;
  const { core } = clients;
  const { static: fixed, dynamic } = spec.credentials;
  const ref = fixed
    ? { ...fixed, name: fixed.secretRef.name }
    : dynamic && { ...dynamic, name: dynamic.adminSecretRef.name };
  // The schema requires exactly one; this only guards against a version skew.
  if (!ref)
    return { ok: false, reason: 'ProbeFailed', message: 'credentials has neither static nor dynamic' };
  const login = await readLogin(core, namespace, ref);
  if ('ok' in login) return login;
  const caRef = spec.tls.caSecretRef;
  if (caRef) {
    const ca = await readSecret(core, namespace, caRef.name);
    if (!ca) return missing('CaSecretNotFound', namespace, caRef.name);
    const pem = ca[caRef.key];
    if (pem === undefined) return missingKey(namespace, caRef.name, caRef.key);
    login.caPem = pem;
  }
  return dynamic
    ? { ok: true, mode: 'dynamic', credentials: login, dynamic }
    : { ok: true, mode: 'static', credentials: login };
}

async function readLogin(
  core: CoreV1Api,
  namespace: string,
  ref: { name: string; usernameKey: string; passwordKey: string },
): Promise<Credentials | Failure> {
  const secret = await readSecret(core, namespace, ref.name);
  if (!secret) return missing('SecretNotFound', namespace, ref.name);
  const user = secret[ref.usernameKey];
  const password = secret[ref.passwordKey];
  if (user === undefined) return missingKey(namespace, ref.name, ref.usernameKey);
  if (password === undefined) return missingKey(namespace, ref.name, ref.passwordKey);
  return { user, password };
}

/**
 * Not even attempted outside the listed namespaces: the RBAC made for the
 * list does not allow it, and a 403 would name neither the flag nor the fix.
 */
function secretNamespaceRefusal(allowed: readonly string[], namespace: string): Failure | undefined {
  if (allowed.length === 0 || allowed.includes(namespace)) return undefined;
  return {
    ok: false,
    reason: 'SecretNamespaceNotAllowed',
    message: `the operator reads Secrets only in namespaces ${allowed.join(', ')} (--secret-namespaces), not in ${namespace}; add ${namespace} to --secret-namespaces (chart value rbac.secretNamespaces), which also grants the read`,
  };
}

function missing(reason: DatabaseConnectionReason, namespace: string, name: string): Failure {
  return { ok: false, reason, message: `Secret ${namespace}/${name} not found` };
}

function missingKey(namespace: string, name: string, key: string): Failure {
  return {
    ok: false,
    reason: 'SecretKeyMissing',
    message: `Secret ${namespace}/${name} has no key "${key}"`,
  };
}

/** The Secret's data decoded, or undefined when it does not exist. */
async function readSecret(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  try {
    const secret = await core.readNamespacedSecret({ name, namespace });
    return Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([key, value]) => [
        key,
        Buffer.from(value, 'base64').toString('utf8'),
      ]),
    );
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}
