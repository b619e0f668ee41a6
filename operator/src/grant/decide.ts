import { createHash } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import {
  type CompiledPolicy,
  canonicalJson,
  compilePolicy,
  type DatabaseConnectionSpec,
  DatabaseConnectionSpecSchema,
  formatFieldError,
  type GrantCredential,
  type GrantSubject,
  type GrantUpstream,
  PolicyCompileError,
  parseDurationMs,
  validatePolicy,
} from '@pgwarden/crds';
import { binds, podFacts, type Subjects } from '../agent-access-policy/binding.js';
import type { CredentialsResult } from '../database-connection/credentials.js';
import { errorSummary } from './pod-identity.js';
import { type Refused, refuse } from './refusal.js';

/** What a decision reads; backed by the API server (and the watch caches), a fake in unit tests. */
export interface GrantSources {
  /** The AgentAccessPolicy objects of a namespace, as stored. */
  listPolicies(namespace: string): Promise<unknown[]>;
  /** A DatabaseConnection's spec as stored, or undefined when it does not exist. */
  getConnectionSpec(namespace: string, name: string): Promise<unknown>;
  /** The static credential (and CA) a connection names. */
  readCredentials(namespace: string, spec: DatabaseConnectionSpec): Promise<CredentialsResult>;
  /** A Secret's resourceVersion, or '' when unknown: a rotated password changes the grant version without the version depending on the password. */
  secretRevision(namespace: string, name: string): string;
}

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** How the credential of a grant comes to be: read from a Secret now, or made per grant when it is issued. */
export type CredentialPlan =
  | { type: 'static'; credential: GrantCredential }
  | { type: 'dynamic'; connection: DatabaseConnectionSpec };

/** Everything a grant carries except what is per issuance (id, times, a dynamic role). */
export interface GrantDecision {
  ok: true;
  version: string;
  policyRef: ObjectRef;
  policy: CompiledPolicy;
  connectionRef: ObjectRef;
  upstream: GrantUpstream;
  credential: CredentialPlan;
  /** The Secrets the decision read: a change to one of them wakes held long polls of this pod. */
  secrets: readonly string[];
}

/**
 * What the pod may have: the one AgentAccessPolicy of its namespace that
 * binds it (none or several is a refusal; pgwarden never picks), compiled as
 * the sidecar would compile a file, and the DatabaseConnection it names with
 * a readable credential. Reads the API server each time: a grant is never
 * issued from a stale cache.
 */
export async function decideGrant(
  sources: GrantSources,
  subject: GrantSubject,
  pod: V1Pod,
): Promise<GrantDecision | Refused> {
  try {
    return await decide(sources, subject, pod);
  } catch (error) {
    return refuse(
      'unavailable',
      `the operator could not read the policies and connection for pod ${subject.namespace}/${subject.pod} (${errorSummary(error)}); retry shortly`,
      2,
    );
  }
}

async function decide(
  sources: GrantSources,
  subject: GrantSubject,
  pod: V1Pod,
): Promise<GrantDecision | Refused> {
  const { namespace } = subject;
  const facts = podFacts(pod);
  const binding = (await sources.listPolicies(namespace)).filter((object) => bindsPod(object, facts));
  const who = `pod ${namespace}/${subject.pod} (service account ${subject.serviceAccount})`;
  if (binding.length === 0) {
    return refuse(
      'no-policy',
      `no AgentAccessPolicy in namespace ${namespace} binds ${who}; a policy's spec.subjects must name its service account or select its labels`,
    );
  }
  if (binding.length > 1) {
    const names = binding.map(nameOf).sort().join(', ');
    return refuse(
      'multiple-policies',
      `AgentAccessPolicies ${names} in namespace ${namespace} all bind ${who}; pgwarden does not choose between policies: narrow their spec.subjects so that exactly one binds it`,
    );
  }
  const object = binding[0];
  const policyRef = { namespace, name: nameOf(object) };
  const compiled = compile(object, policyRef);
  if (!compiled.ok) return compiled;
  const connectionName = compiled.connection;
  const connectionRef = { namespace, name: connectionName };
  const unavailable = (why: string) =>
    refuse(
      'connection-unavailable',
      `AgentAccessPolicy ${namespace}/${policyRef.name} names DatabaseConnection ${connectionName}, which ${why}`,
    );
  const stored = await sources.getConnectionSpec(namespace, connectionName);
  if (stored === undefined) return unavailable('does not exist; create it or fix spec.connection');
  const parsed = DatabaseConnectionSpecSchema.safeParse(stored);
  if (!parsed.success) return unavailable('does not validate; kubectl describe it for the errors');
  const spec = parsed.data;

  const read = await sources.readCredentials(namespace, spec);
  if (!read.ok) return unavailable(`has no usable credential: ${read.message}`);
  const caPem = read.credentials.caPem ?? null;
  // For a dynamic connection `read.credentials` is its admin role, which never reaches a grant.
  const credential: CredentialPlan =
    read.mode === 'static'
      ? {
          type: 'static',
          credential: {
            type: 'static',
            user: read.credentials.user,
            password: read.credentials.password,
            validUntil: null,
          },
        }
      : { type: 'dynamic', connection: spec };
  const secrets = [
    spec.credentials.static?.secretRef.name ?? spec.credentials.dynamic?.adminSecretRef.name,
    spec.tls.caSecretRef?.name,
  ].filter((name): name is string => name !== undefined);

  const upstream: GrantUpstream = {
    host: spec.host,
    port: spec.port,
    database: spec.database,
    sslMode: spec.tls.mode,
    caPem,
    connectTimeoutMs: parseDurationMs(spec.connectTimeout) ?? 10_000,
  };
  const version = grantVersion({
    policyHash: compiled.policy.hash,
    connectionRef,
    upstream,
    // A static role is the same until its Secret changes; a dynamic one is made per grant, so only its settings count.
    credential:
      credential.type === 'static'
        ? {
            type: 'static',
            user: credential.credential.user,
            revisions: secrets.map((name) => sources.secretRevision(namespace, name)),
          }
        : { type: 'dynamic', settings: spec.credentials.dynamic },
  });
  return {
    ok: true,
    version,
    policyRef,
    policy: compiled.policy,
    connectionRef,
    upstream,
    credential,
    secrets,
  };
}

/** sha256 over what the sidecar enforces and where and as whom it connects; never over a password. */
export function grantVersion(inputs: {
  policyHash: string;
  connectionRef: ObjectRef;
  upstream: GrantUpstream;
  credential: unknown;
}): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

/**
 * Binding is decided on the validated subjects; a policy that does not
 * validate still binds the pods its subjects name when they can be read, so
 * that the pod is refused as 'policy-invalid' rather than as 'no-policy'.
 */
export function bindsPod(object: unknown, facts: ReturnType<typeof podFacts>): boolean {
  const validation = validatePolicy(object, { standalone: false });
  const subjects = validation.ok
    ? validation.policy.spec.subjects
    : ((object as { spec?: { subjects?: unknown } } | null)?.spec?.subjects as Subjects | undefined);
  try {
    return binds(subjects, facts);
  } catch {
    return false; // subjects of the wrong shape bind nothing
  }
}

/** metadata.name of an object read as unknown; '' when it has none. */
export function nameOf(object: unknown): string {
  return (object as { metadata?: { name?: string } }).metadata?.name ?? '';
}

function compile(
  object: unknown,
  ref: ObjectRef,
): { ok: true; policy: CompiledPolicy; connection: string } | Refused {
  const invalid = (errors: string) =>
    refuse(
      'policy-invalid',
      `AgentAccessPolicy ${ref.namespace}/${ref.name} is not valid: ${errors}; fix the policy (kubectl describe agentaccesspolicy ${ref.name} shows the same errors)`,
    );
  const validation = validatePolicy(object, { standalone: false });
  if (!validation.ok) return invalid(validation.errors.map(formatFieldError).join('; '));
  try {
    return {
      ok: true,
      policy: compilePolicy(validation.policy),
      connection: validation.policy.spec.connection as string,
    };
  } catch (error) {
    if (!(error instanceof PolicyCompileError)) throw error;
    return invalid(error.errors.map(formatFieldError).join('; '));
  }
}
