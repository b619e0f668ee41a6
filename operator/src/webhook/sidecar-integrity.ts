import type { V1Container, V1EnvVar, V1Pod, V1Probe, V1VolumeProjection } from '@kubernetes/client-node';
import {
  GRANT_CA_ANNOTATION,
  GRANT_CA_FILE,
  RECORDING_SECRET_KEYS,
  RECORDINGS_VOLUME,
  SIDECAR_ARGS,
  SIDECAR_CONTAINER,
  SPOOL_DIR,
  SPOOL_VOLUME,
  TOKEN_AUDIENCE,
  TOKEN_DIR,
  TOKEN_VOLUME,
} from './sidecar.js';

/**
 * What makes the pgwarden.io token the proxy's alone. The grant API trusts a
 * token as "the proxy of pod X"; anything else in the pod that can read the
 * token (or the proxy's memory, which holds the grant and its credential)
 * would get the database credential the agent must never hold. A pod's author
 * controls its whole spec, so the webhook refuses such pods and the grant API
 * re-checks every pod it answers for (pods the webhook never saw: created
 * while it was down with failurePolicy Ignore, or changed since, e.g. by an
 * ephemeral container).
 */

/** Volumes only the proxy may mount. */
const PROXY_VOLUMES: readonly string[] = [TOKEN_VOLUME, SPOOL_VOLUME, RECORDINGS_VOLUME];

/** What an untouched proxy container looks like, as this operator injects it. */
export interface ExpectedSidecar {
  /** The configured image; the pod's must come from the same repository (any tag or digest, so upgrades keep working). */
  image: string;
  /** Where the proxy must send its token. */
  grantUrl: string;
  /** The CA the proxy must verify the grant API with (the webhook's); empty while the operator has none. */
  grantCaPem: string;
}

/**
 * Why, in a pod about to be injected, something besides the proxy could reach
 * its token: null when nothing could.
 */
export function exposureBeforeInjection(pod: V1Pod): string | null {
  return sharedProcesses(pod) ?? reservedVolume(pod) ?? foreignTokenVolume(pod, false) ?? foreignMount(pod);
}

/**
 * Why something besides an unmodified pgwarden proxy could hold this pod's
 * pgwarden.io token or read the proxy's memory: null when nothing could.
 */
export function sidecarIntegrityProblem(pod: V1Pod, expected: ExpectedSidecar): string | null {
  const spec = pod.spec;
  const sidecar = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find(
    (c) => c.name === SIDECAR_CONTAINER,
  );
  if (!sidecar) return `it has no ${SIDECAR_CONTAINER} container (it was not injected by pgwarden)`;
  return (
    sharedProcesses(pod) ??
    foreignMount(pod) ??
    changedSidecar(sidecar, expected) ??
    foreignTokenVolume(pod, true) ??
    changedGrantCa(pod, expected)
  );
}

function sharedProcesses(pod: V1Pod): string | null {
  if (pod.spec?.hostPID) return 'it sets hostPID, so other processes could read the proxy’s memory';
  if (pod.spec?.shareProcessNamespace)
    return 'it sets shareProcessNamespace, so its other containers could read the proxy’s memory and token';
  return null;
}

function reservedVolume(pod: V1Pod): string | null {
  const volume = pod.spec?.volumes?.find((v) => PROXY_VOLUMES.includes(v.name));
  return volume ? `it declares volume ${volume.name}, a name pgwarden reserves for its proxy` : null;
}

/** A projected token for pgwarden.io anywhere but the proxy's own volume (which must then exist). */
function foreignTokenVolume(pod: V1Pod, injected: boolean): string | null {
  const volumes = (pod.spec?.volumes ?? []).filter((v) =>
    v.projected?.sources?.some((s) => s.serviceAccountToken?.audience === TOKEN_AUDIENCE),
  );
  const foreign = volumes.find((v) => !injected || v.name !== TOKEN_VOLUME);
  if (foreign)
    return `volume ${foreign.name} projects a service-account token for audience ${TOKEN_AUDIENCE}, which only the pgwarden proxy may hold`;
  if (injected && volumes.length === 0) return `volume ${TOKEN_VOLUME} does not project the proxy’s token`;
  return injected ? changedTokenVolume(pod) : null;
}

/** The token volume holds the token and the annotated CA, nothing else: a CA from elsewhere would be the pod's choice. */
function changedTokenVolume(pod: V1Pod): string | null {
  const volume = pod.spec?.volumes?.find((v) => v.name === TOKEN_VOLUME);
  const caPath = `metadata.annotations['${GRANT_CA_ANNOTATION}']`;
  const expectedSource = ({ serviceAccountToken, downwardAPI, ...others }: V1VolumeProjection) =>
    Object.values(others).every((other) => other === undefined) &&
    (serviceAccountToken
      ? !downwardAPI &&
        serviceAccountToken.audience === TOKEN_AUDIENCE &&
        serviceAccountToken.path === 'token'
      : downwardAPI?.items?.length === 1 &&
        downwardAPI.items[0]?.path === GRANT_CA_FILE &&
        downwardAPI.items[0]?.fieldRef?.fieldPath === caPath);
  return (volume?.projected?.sources ?? []).every(expectedSource)
    ? null
    : `volume ${TOKEN_VOLUME} holds more than the proxy's token and the operator's CA`;
}

/**
 * Why an ephemeral container of this pod (kubectl debug) could reach the
 * proxy's token or memory: null when none could. What the pod webhook checks
 * when ephemeral containers are added.
 */
export function ephemeralExposure(pod: V1Pod): string | null {
  return foreignMount(pod, true);
}

/** Another container mounting the proxy's volumes, or an ephemeral container attached to the proxy. */
function foreignMount(pod: V1Pod, ephemeralOnly = false): string | null {
  const spec = pod.spec;
  const containers: { kind: string; container: V1Container & { targetContainerName?: string } }[] = [
    ...(ephemeralOnly ? [] : (spec?.initContainers ?? [])).map((container) => ({
      kind: 'init container',
      container,
    })),
    ...(ephemeralOnly ? [] : (spec?.containers ?? [])).map((container) => ({ kind: 'container', container })),
    ...(spec?.ephemeralContainers ?? []).map((container) => ({ kind: 'ephemeral container', container })),
  ];
  for (const { kind, container } of containers) {
    if (container.name === SIDECAR_CONTAINER && kind !== 'ephemeral container') continue;
    const mount = container.volumeMounts?.find((m) => PROXY_VOLUMES.includes(m.name));
    if (mount)
      return `${kind} ${container.name} mounts ${mount.name}, which only the pgwarden proxy may mount`;
    if (container.targetContainerName === SIDECAR_CONTAINER)
      return `${kind} ${container.name} targets ${SIDECAR_CONTAINER}, so it shares the proxy’s processes`;
  }
  return null;
}

/** Fixed values of the proxy's environment; PGWARDEN_GRANT_URL comes from the operator's configuration. */
const FIXED_ENV: Readonly<Record<string, string>> = {
  PGWARDEN_TOKEN_FILE: `${TOKEN_DIR}/token`,
  PGWARDEN_GRANT_CA_FILE: `${TOKEN_DIR}/${GRANT_CA_FILE}`,
  PGWARDEN_SPOOL_DIR: SPOOL_DIR,
};
const FIELD_ENV: Readonly<Record<string, string>> = {
  PGWARDEN_POD_NAME: 'metadata.name',
  PGWARDEN_POD_NAMESPACE: 'metadata.namespace',
};
/** Values the proxy validates itself and that cannot redirect it. */
const FREE_ENV = new Set<string>([
  'PGWARDEN_LOG_LEVEL',
  'PGWARDEN_LOG_FORMAT',
  ...RECORDING_SECRET_KEYS.map((k) => k.key),
]);

/**
 * The proxy container must run the pgwarden image's own program with the
 * injected arguments: a changed command, a hook or exec probe, an extra mount
 * or variable (NODE_OPTIONS, a grant URL elsewhere) could run other code next
 * to the token, or send the token somewhere else.
 */
function changedSidecar(sidecar: V1Container, expected: ExpectedSidecar): string | null {
  const changed = (what: string) => `its ${SIDECAR_CONTAINER} container ${what}`;
  if (repository(sidecar.image ?? '') !== repository(expected.image))
    return changed(`runs image ${sidecar.image}, not one of ${repository(expected.image)}`);
  if (sidecar.command?.length) return changed('overrides the image’s command');
  if (JSON.stringify(sidecar.args ?? []) !== JSON.stringify(SIDECAR_ARGS))
    return changed('has other arguments than pgwarden injects');
  if (sidecar.lifecycle) return changed('has lifecycle hooks');
  const probes = [sidecar.startupProbe, sidecar.readinessProbe, sidecar.livenessProbe];
  if (probes.some((p: V1Probe | undefined) => p?.exec)) return changed('has an exec probe');
  if (sidecar.envFrom?.length) return changed('takes variables from envFrom');
  for (const variable of sidecar.env ?? []) {
    const problem = envProblem(variable, expected);
    if (problem) return changed(problem);
  }
  const mount = sidecar.volumeMounts?.find((m) => !PROXY_VOLUMES.includes(m.name));
  if (mount) return changed(`mounts volume ${mount.name}`);
  if (sidecar.volumeDevices?.length) return changed('has volume devices');
  return null;
}

function envProblem(variable: V1EnvVar, expected: ExpectedSidecar): string | null {
  const { name } = variable;
  const fixed = name === 'PGWARDEN_GRANT_URL' ? expected.grantUrl : FIXED_ENV[name];
  if (fixed !== undefined)
    return variable.value === fixed && !variable.valueFrom ? null : `sets ${name} to something else`;
  const field = FIELD_ENV[name];
  if (field !== undefined)
    return variable.valueFrom?.fieldRef?.fieldPath === field ? null : `sets ${name} to something else`;
  return FREE_ENV.has(name) ? null : `sets variable ${name}, which pgwarden does not inject`;
}

/**
 * A CA of the pod's choosing would let it point the proxy at a grant API of
 * its own (hostAliases, dnsConfig) and collect the token. Without the
 * annotation the proxy has no CA and does not start.
 */
function changedGrantCa(pod: V1Pod, expected: ExpectedSidecar): string | null {
  const annotated = pod.metadata?.annotations?.[GRANT_CA_ANNOTATION];
  if (annotated === undefined || expected.grantCaPem === '') return null;
  return annotated.trim() === expected.grantCaPem.trim()
    ? null
    : `its ${GRANT_CA_ANNOTATION} annotation is not the operator's CA (a re-created pod gets the current one)`;
}

/** The image without tag or digest: registry/path. */
function repository(image: string): string {
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon < 0 ? withoutDigest : withoutDigest.slice(0, colon);
}
