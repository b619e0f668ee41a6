import type { CoreV1Api } from '@kubernetes/client-node';
import type { DatabaseConnectionReason, DatabaseConnectionSpec } from '@pgwarden/crds';
import { apiStatus } from '../kube/clients.js';

export interface Credentials {
  user: string;
  password: string;
  /** PEM CA for verify-ca / verify-full. */
  caPem?: string;
}

export type CredentialsResult =
  | { ok: true; credentials: Credentials }
  | { ok: false; reason: DatabaseConnectionReason; message: string };

/** Reads the Secrets a DatabaseConnection names; a missing Secret or key is a result, not an error. */
export async function readCredentials(
  core: CoreV1Api,
  namespace: string,
  spec: DatabaseConnectionSpec,
): Promise<CredentialsResult> {
  const { static: fixed } = spec.credentials;
  if (!fixed) {
    return {
      ok: false,
      reason: 'DynamicCredentialsUnsupported',
      message:
        'credentials.dynamic is reserved; this version of the operator supports credentials.static only',
    };
  }
  const secret = await readSecret(core, namespace, fixed.secretRef.name);
  if (!secret) return missing('SecretNotFound', namespace, fixed.secretRef.name);
  const user = secret[fixed.usernameKey];
  const password = secret[fixed.passwordKey];
  for (const [key, value] of [
    [fixed.usernameKey, user],
    [fixed.passwordKey, password],
  ] as const) {
    if (value === undefined) {
      return {
        ok: false,
        reason: 'SecretKeyMissing',
        message: `Secret ${namespace}/${fixed.secretRef.name} has no key "${key}"`,
      };
    }
  }
  const credentials: Credentials = { user: user as string, password: password as string };
  const caRef = spec.tls.caSecretRef;
  if (caRef) {
    const ca = await readSecret(core, namespace, caRef.name);
    if (!ca) return missing('CaSecretNotFound', namespace, caRef.name);
    const pem = ca[caRef.key];
    if (pem === undefined) {
      return {
        ok: false,
        reason: 'SecretKeyMissing',
        message: `Secret ${namespace}/${caRef.name} has no key "${caRef.key}"`,
      };
    }
    credentials.caPem = pem;
  }
  return { ok: true, credentials };
}

function missing(reason: DatabaseConnectionReason, namespace: string, name: string): CredentialsResult {
  return { ok: false, reason, message: `Secret ${namespace}/${name} not found` };
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
