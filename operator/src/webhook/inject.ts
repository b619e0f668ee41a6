import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { DnsSubdomainSchema, formatFieldError, toFieldErrors } from '@pgwarden/crds';
import {
  agentEnv,
  GRANT_CA_ANNOTATION,
  type RecordingSources,
  SIDECAR_CONTAINER,
  type SidecarSettings,
  sidecarContainer,
  sidecarVolumes,
} from './sidecar.js';
import { exposureBeforeInjection, sidecarIntegrityProblem } from './sidecar-integrity.js';

/** Namespace label that opts a namespace in; pod annotation that opts a pod out. */
export const INJECT_KEY = 'pgwarden.io/inject';
export const INJECT_ENABLED = 'enabled';
export const INJECT_DISABLED = 'disabled';
/** Set on an injected pod, with the sidecar image. */
export const INJECTED_ANNOTATION = 'pgwarden.io/injected';
/**
 * Pod annotations that replace --sidecar-recording-secret and
 * --sidecar-recording-claim for one pod; an empty value means none. The pod's
 * author could mount that Secret or claim into the pod anyway, so naming it
 * here gives nobody more than they had.
 */
export const RECORDING_SECRET_ANNOTATION = 'pgwarden.io/recording-secret';
export const RECORDING_CLAIM_ANNOTATION = 'pgwarden.io/recording-claim';

/** RFC 6902 operations; the admission response carries a list of them. */
export type JsonPatchOp =
  | { op: 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export type InjectionDecision =
  | { inject: true; patch: JsonPatchOp[] }
  | { inject: false; reason: 'ProtectedNamespace' | 'OptedOut' | 'AlreadyInjected' }
  /** Refused: the pod cannot be injected as it asks, or would let something besides the proxy reach its token; `message` says why and what to do. */
  | { inject: false; reason: 'InvalidAnnotation' | 'TokenExposed'; message: string };

export interface InjectionContext {
  namespace: string;
  /** Never injected, whatever their labels: kube-system and the operator's own. */
  protectedNamespaces: readonly string[];
  settings: SidecarSettings;
}

/**
 * What the webhook does to a pod being created: nothing when its namespace is
 * protected, the pod opts out, or it already has an unmodified sidecar (so a
 * pod re-created from a stored one, or a second webhook pass, is unchanged);
 * a refusal when something besides the proxy could reach its token;
 * otherwise the patch that adds the sidecar, its volumes and the agents' env.
 */
export function decideInjection(pod: V1Pod, context: InjectionContext): InjectionDecision {
  if (context.protectedNamespaces.includes(context.namespace))
    return { inject: false, reason: 'ProtectedNamespace' };
  if (pod.metadata?.annotations?.[INJECT_KEY] === INJECT_DISABLED)
    return { inject: false, reason: 'OptedOut' };
  const spec = pod.spec;
  const all = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
  const exposed = (problem: string) => ({
    inject: false as const,
    reason: 'TokenExposed' as const,
    message: `pgwarden refuses this pod: ${problem}; only the injected pgwarden proxy may hold the pod's pgwarden.io token (docs/threat-model.md)`,
  });
  if (all.some((c) => c.name === SIDECAR_CONTAINER)) {
    const problem = sidecarIntegrityProblem(pod, context.settings);
    return problem ? exposed(problem) : { inject: false, reason: 'AlreadyInjected' };
  }
  const problem = exposureBeforeInjection(pod);
  if (problem) return exposed(problem);
  const recording = recordingSources(pod, context.settings.recording);
  if (typeof recording === 'string')
    return { inject: false, reason: 'InvalidAnnotation', message: recording };
  return { inject: true, patch: injectionPatch(pod, context.settings, recording) };
}

function injectionPatch(pod: V1Pod, settings: SidecarSettings, recording: RecordingSources): JsonPatchOp[] {
  const patch: JsonPatchOp[] = [];
  const spec = pod.spec;
  const containers = spec?.containers ?? [];
  const initContainers = spec?.initContainers ?? [];
  // Agents' env first, while the container indices are still the pod's own.
  containers.forEach((container, i) => {
    patch.push(...envPatch(container, `/spec/containers/${i}`));
  });
  const sidecar = sidecarContainer(settings, recording);
  if (settings.mode === 'native') {
    // First of the init containers: later ones (migrations, say) already go through the proxy.
    patch.push(
      initContainers.length === 0
        ? { op: 'add', path: '/spec/initContainers', value: [sidecar] }
        : { op: 'add', path: '/spec/initContainers/0', value: sidecar },
    );
  } else {
    patch.push({ op: 'add', path: '/spec/containers/-', value: sidecar });
  }
  const volumes = sidecarVolumes(settings, recording);
  if (!spec?.volumes) patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  else for (const volume of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: volume });
  patch.push(...pullSecretsPatch(pod, settings.imagePullSecrets));
  // The CA annotation replaces any the pod brought: the sidecar trusts only the operator's CA.
  const annotations = { [INJECTED_ANNOTATION]: settings.image, [GRANT_CA_ANNOTATION]: settings.grantCaPem };
  if (!pod.metadata?.annotations)
    patch.push({ op: 'add', path: '/metadata/annotations', value: annotations });
  else {
    for (const [key, value] of Object.entries(annotations)) {
      patch.push({ op: 'add', path: `/metadata/annotations/${escapePointer(key)}`, value });
    }
  }
  return patch;
}

/** The flags' Secret and claim, or the pod's own; a message when an annotation names nothing valid. */
function recordingSources(pod: V1Pod, defaults: RecordingSources): RecordingSources | string {
  const annotations = pod.metadata?.annotations ?? {};
  const problems: string[] = [];
  const pick = (annotation: string, fallback: string | undefined, what: string) => {
    const value = annotations[annotation];
    if (value === undefined) return fallback;
    if (value === '') return undefined;
    const name = DnsSubdomainSchema.safeParse(value);
    if (!name.success) {
      const why = toFieldErrors(name.error.issues).map(formatFieldError).join('; ');
      problems.push(`annotation ${annotation}: ${why}; name ${what} in this namespace, or "" for none`);
    }
    return value;
  };
  const sources = {
    secretName: pick(RECORDING_SECRET_ANNOTATION, defaults.secretName, 'a Secret'),
    claimName: pick(RECORDING_CLAIM_ANNOTATION, defaults.claimName, 'a PersistentVolumeClaim'),
  };
  return problems.length === 0 ? sources : `pgwarden cannot inject this pod: ${problems.join('; ')}`;
}

/** The sidecar's pull secrets beside the pod's own, each once. */
function pullSecretsPatch(pod: V1Pod, names: readonly string[]): JsonPatchOp[] {
  const existing = pod.spec?.imagePullSecrets;
  const missing = [...new Set(names)]
    .filter((name) => !existing?.some((s) => s.name === name))
    .map((name) => ({ name }));
  if (missing.length === 0) return [];
  if (!existing) return [{ op: 'add', path: '/spec/imagePullSecrets', value: missing }];
  return missing.map((value) => ({ op: 'add', path: '/spec/imagePullSecrets/-', value }));
}

/** The agent's own values for these names are replaced: the proxy is the only way to the database. */
function envPatch(container: V1Container, path: string): JsonPatchOp[] {
  const wanted = agentEnv();
  const env = container.env ?? [];
  if (env.length === 0) return [{ op: 'add', path: `${path}/env`, value: wanted }];
  const ops: JsonPatchOp[] = [];
  for (const variable of wanted) {
    const index = env.findIndex((e) => e.name === variable.name);
    if (index < 0) ops.push({ op: 'add', path: `${path}/env/-`, value: variable });
    else ops.push({ op: 'replace', path: `${path}/env/${index}`, value: variable });
  }
  return ops;
}

/** RFC 6901: "~" and "/" inside a key. */
function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
