import type {
  V1Container,
  V1EnvVar,
  V1ResourceRequirements,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { LogFormat } from '@pgwarden/crds';

/** Names the injection gives what it adds, so a second pass can recognise its own work. */
export const SIDECAR_CONTAINER = 'pgwarden-proxy';
export const TOKEN_VOLUME = 'pgwarden-token';
export const SPOOL_VOLUME = 'pgwarden-spool';
export const RECORDINGS_VOLUME = 'pgwarden-recordings';

/** The projected token: audience and lifetime the operator's grant API checks (design §4). */
export const TOKEN_AUDIENCE = 'pgwarden.io';
export const TOKEN_EXPIRATION_SECONDS = 600;
export const TOKEN_DIR = '/var/run/secrets/pgwarden.io';
/**
 * The operator's CA, for the sidecar to verify the grant API's certificate:
 * the webhook writes it into this pod annotation and the token volume
 * projects the annotation as ca.crt beside the token, so no per-namespace
 * object (ConfigMap, Secret) has to be kept in step.
 */
export const GRANT_CA_ANNOTATION = 'pgwarden.io/grant-ca';
export const GRANT_CA_FILE = 'ca.crt';
export const SPOOL_DIR = '/var/lib/pgwarden/spool';
/** Where the recording claim is mounted: the path a policy's dir sink names (docs/recording.md). */
export const RECORDINGS_DIR = '/var/lib/pgwarden/recordings';

/** Where the agent finds the proxy: loopback only, so nothing outside the pod reaches it. */
export const PROXY_HOST = '127.0.0.1';
export const PROXY_PORT = 5432;
/** The sidecar's /readyz for the kubelet, which probes the pod IP, so not loopback. */
export const ADMIN_PORT = 9432;

/** The proxy's command line; the image's entrypoint is the pgwarden CLI. */
export const SIDECAR_ARGS: readonly string[] = [
  'proxy',
  '--listen',
  `${PROXY_HOST}:${PROXY_PORT}`,
  '--admin-listen',
  `0.0.0.0:${ADMIN_PORT}`,
];

export interface SidecarSettings {
  image: string;
  /** native: an init container with restartPolicy Always (Kubernetes ≥ 1.29); container: a regular container. */
  mode: 'native' | 'container';
  resources: V1ResourceRequirements;
  /** The operator's grant endpoint the sidecar presents its token to. */
  grantUrl: string;
  /** PEM of the CA that signs the grant endpoint's certificate. */
  grantCaPem: string;
  /** Omitted: Kubernetes' default for the image's tag. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never' | undefined;
  /** Secrets to pull the sidecar image with, merged into the pod's own. */
  imagePullSecrets: readonly string[];
  /** sizeLimit of the spool emptyDir, a Kubernetes quantity. */
  spoolSizeLimit: string;
  /** Where recordings get their sink's credentials and directory; pod annotations override (see inject.ts). */
  recording: RecordingSources;
  /** The sidecar's --log-level and --log-format. */
  log: { level: string; format: LogFormat };
}

export interface RecordingSources {
  /** Secret whose keys become the sidecar's environment (an s3 sink's credentials). */
  secretName?: string | undefined;
  /** PersistentVolumeClaim mounted at RECORDINGS_DIR (a dir sink). */
  claimName?: string | undefined;
}

/** The proxy container; its token, spool and recording sources are mounted here and nowhere else. */
export function sidecarContainer(settings: SidecarSettings, recording: RecordingSources): V1Container {
  const container: V1Container = {
    name: SIDECAR_CONTAINER,
    image: settings.image,
    ...(settings.imagePullPolicy && { imagePullPolicy: settings.imagePullPolicy }),
    args: [...SIDECAR_ARGS],
    env: [
      { name: 'PGWARDEN_GRANT_URL', value: settings.grantUrl },
      { name: 'PGWARDEN_TOKEN_FILE', value: `${TOKEN_DIR}/token` },
      { name: 'PGWARDEN_GRANT_CA_FILE', value: `${TOKEN_DIR}/${GRANT_CA_FILE}` },
      { name: 'PGWARDEN_SPOOL_DIR', value: SPOOL_DIR },
      { name: 'PGWARDEN_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'PGWARDEN_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'PGWARDEN_LOG_LEVEL', value: settings.log.level },
      { name: 'PGWARDEN_LOG_FORMAT', value: settings.log.format },
      ...(recording.secretName ? recordingEnv(recording.secretName) : []),
    ],
    ports: [{ name: 'pgwarden-admin', containerPort: ADMIN_PORT, protocol: 'TCP' }],
    // The agent starts only once the proxy holds a grant and listens (native sidecars gate later containers on it).
    startupProbe: {
      httpGet: { path: '/readyz', port: ADMIN_PORT },
      periodSeconds: 1,
      failureThreshold: 60,
    },
    readinessProbe: { httpGet: { path: '/readyz', port: ADMIN_PORT }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: ADMIN_PORT }, periodSeconds: 10 },
    resources: settings.resources,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: SPOOL_VOLUME, mountPath: SPOOL_DIR },
      ...recordingMounts(recording),
    ],
  };
  if (settings.mode === 'native') container.restartPolicy = 'Always';
  return container;
}

/** The S3 credential keys the recording Secret may hold, each as the variable of the same name. */
export const RECORDING_SECRET_KEYS = [
  { key: 'AWS_ACCESS_KEY_ID', optional: false },
  { key: 'AWS_SECRET_ACCESS_KEY', optional: false },
  { key: 'AWS_SESSION_TOKEN', optional: true },
] as const;

/**
 * The sink's credentials from the recording Secret, key by key: never the
 * whole Secret (envFrom), whose other keys could set NODE_OPTIONS and run
 * code beside the token. Not optional: without the Secret or a required key
 * the kubelet does not start the sidecar and says which is missing, where an
 * optional one would start a proxy that cannot ship a recording.
 */
function recordingEnv(secretName: string): V1EnvVar[] {
  return RECORDING_SECRET_KEYS.map(({ key, optional }) => ({
    name: key,
    valueFrom: { secretKeyRef: { name: secretName, key, optional } },
  }));
}

function recordingMounts(recording: RecordingSources): V1VolumeMount[] {
  return recording.claimName ? [{ name: RECORDINGS_VOLUME, mountPath: RECORDINGS_DIR }] : [];
}

export function sidecarVolumes(settings: SidecarSettings, recording: RecordingSources): V1Volume[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: TOKEN_AUDIENCE,
              expirationSeconds: TOKEN_EXPIRATION_SECONDS,
              path: 'token',
            },
          },
          {
            downwardAPI: {
              items: [
                {
                  path: GRANT_CA_FILE,
                  fieldRef: { fieldPath: `metadata.annotations['${GRANT_CA_ANNOTATION}']` },
                },
              ],
            },
          },
        ],
      },
    },
    // Bounded, so a spool that cannot drain fills this volume, not the node's disk.
    { name: SPOOL_VOLUME, emptyDir: { sizeLimit: settings.spoolSizeLimit } },
    ...(recording.claimName
      ? [{ name: RECORDINGS_VOLUME, persistentVolumeClaim: { claimName: recording.claimName } }]
      : []),
  ];
}

/** What every other container gets: libpq's variables and a URL, all pointing at the proxy. */
export function agentEnv(): V1EnvVar[] {
  // 127.0.0.1, not "localhost": the proxy listens on IPv4 loopback, and
  // "localhost" resolves to ::1 first for some clients (Node's among them).
  return [
    { name: 'PGHOST', value: PROXY_HOST },
    { name: 'PGPORT', value: String(PROXY_PORT) },
    { name: 'DATABASE_URL', value: `postgresql://${PROXY_HOST}:${PROXY_PORT}` },
  ];
}
