import { X509Certificate } from 'node:crypto';
import { AdmissionregistrationV1Api, VersionApi } from '@kubernetes/client-node';
import { decisionReviewer } from '../approval/decision-review.js';
import type { KubeClients } from '../kube/clients.js';
import { selfUserName } from '../kube/self.js';
import type { OperatorConfig } from '../process/config.js';
import type { OperatorMetrics } from '../process/metrics.js';
import type { Log } from '../reconcile/loop.js';
import {
  type HttpHandler,
  MUTATE_APPROVALS_PATH,
  MUTATE_PODS_PATH,
  serveWebhook,
  VALIDATE_POLICIES_PATH,
} from './admission.js';
import type { ServedCertificates } from './certificates.js';
import { ExternalWebhookTls } from './external-tls.js';
import { podReviewer } from './pod-review.js';
import { policyReviewer } from './policy-review.js';
import type { SidecarSettings } from './sidecar.js';
import { WebhookTls } from './tls.js';

/**
 * The webhooks (pod injection, policy validation, approval decisions) as the operator runs them, on every replica (admission does
 * not wait for a leader): certificates from the shared Secret, re-checked
 * every --webhook-check-interval so a rotation is served without a restart.
 * Self mode issues them and keeps the caBundle current (a re-created
 * configuration is repaired); external mode serves what cert-manager writes,
 * also on the Secret's watch events, and is ready once it has a usable one.
 */
export async function startWebhook(
  config: OperatorConfig,
  listen: { host: string; port: number },
  clients: KubeClients,
  metrics: OperatorMetrics,
  log: Log,
  /** The sidecar-facing APIs (grants, approvals) served on the same listener, by path prefix. */
  handlers: Readonly<Record<string, HttpHandler>> = {},
): Promise<{ port: number; ready(): boolean; grantCaPem(): string; close(): Promise<void> }> {
  const source = certificateSource(config, clients, log);
  // Self-managed certificates are issued before serving (a failure fails the start); someone else's
  // may appear after the operator starts: until then it listens without one and is not ready.
  let served = config.webhookCertMode === 'self' ? await source.load() : undefined;
  const settings: SidecarSettings = {
    image: config.sidecarImage,
    mode: config.sidecarMode === 'auto' ? await detectSidecarMode(clients, log) : config.sidecarMode,
    resources: config.sidecarResources,
    grantUrl: config.sidecarGrantUrl,
    imagePullPolicy: config.sidecarImagePullPolicy,
    imagePullSecrets: config.sidecarImagePullSecrets,
    spoolSizeLimit: config.sidecarSpoolSizeLimit,
    recording: { secretName: config.sidecarRecordingSecret, claimName: config.sidecarRecordingClaim },
    log: { level: config.sidecarLogLevel, format: config.sidecarLogFormat },
    grantCaPem: served?.caCert ?? '',
  };
  const protectedNamespaces = ['kube-system', config.namespace];
  // The operator's own QueryApproval writes pass the decision webhook; until its name is known, none do.
  let operatorUser: string | null = null;
  const knowOperatorUser = async () => {
    if (operatorUser !== null) return;
    operatorUser = await selfUserName(clients);
    log('webhook-operator-user', { user: operatorUser });
  };
  const server = await serveWebhook({
    listen,
    certificates: served,
    handlers,
    reviewers: {
      [MUTATE_PODS_PATH]: podReviewer((namespace) => ({ namespace, protectedNamespaces, settings }), log),
      [VALIDATE_POLICIES_PATH]: policyReviewer({ spoolSizeLimit: config.sidecarSpoolSizeLimit }),
      [MUTATE_APPROVALS_PATH]: decisionReviewer(() => operatorUser),
    },
    observe: (path, result, seconds) => {
      const webhook = WEBHOOK_NAMES[path] ?? path;
      metrics.webhookReviews.inc({ webhook, result });
      metrics.webhookSeconds.observe({ webhook }, seconds);
      metrics.webhookSecondsHistogram.observe({ webhook }, seconds);
    },
  });
  const expiry = (c: ServedCertificates) =>
    metrics.webhookCertificateExpiry.set(new Date(new X509Certificate(c.cert).validTo).getTime() / 1000);
  if (served) expiry(served);
  log('webhook-listening', {
    port: server.address.port,
    sidecarMode: settings.mode,
    certMode: config.webhookCertMode,
    hosts: config.webhookHosts,
  });

  // The last failure logged, so a Secret that stays unusable is reported once, not at every check.
  let failure: string | undefined;
  const check = async () => {
    await knowOperatorUser().catch((error: unknown) =>
      log('operator-user-unknown', { error: String(error) }),
    );
    try {
      const current = await source.load();
      if (!served || !sameCertificates(current, served)) {
        const first = served === undefined;
        served = current;
        settings.grantCaPem = current.caCert;
        server.setCertificates(current);
        expiry(current);
        log(first ? 'webhook-certificate-loaded' : 'webhook-certificate-reloaded', {
          fingerprint: new X509Certificate(current.cert).fingerprint256,
          validTo: new X509Certificate(current.cert).validTo,
        });
      }
      failure = undefined;
      await source.publish?.(current.caCert);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // Someone else's certificate that stops being usable: the last good one keeps serving.
      if (message !== failure)
        log('webhook-tls-check-failed', { error: message, serving: served !== undefined });
      failure = message;
    }
  };
  // Serialised: a watch event during a check runs one more check after it, not a second one beside it.
  let running: Promise<void> | undefined;
  let again = false;
  const recheck = () => {
    if (running) {
      again = true;
      return;
    }
    running = check().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        recheck();
      }
    });
  };
  const watch = source.watch?.(recheck, log);
  await check();
  await watch?.start();
  const timer = setInterval(recheck, config.webhookCheckInterval);
  timer.unref();
  return {
    port: server.address.port,
    ready: () => served !== undefined,
    grantCaPem: () => settings.grantCaPem,
    async close() {
      clearInterval(timer);
      await watch?.stop();
      await running;
      await server.close();
    },
  };
}

/** Where the served certificate comes from, by --webhook-cert-mode. */
interface CertificateSource {
  /** The certificates to serve now; throws saying why there are none. */
  load(): Promise<ServedCertificates>;
  /** After each load: self mode keeps the webhook configurations' caBundle on its CA. */
  publish?(caCert: string): Promise<unknown>;
  /** Calls `changed` when the certificates change, for a mode that can watch them. */
  watch?(changed: () => void, log: Log): { start(): Promise<void>; stop(): Promise<void> };
}

function certificateSource(config: OperatorConfig, clients: KubeClients, log: Log): CertificateSource {
  const where = { namespace: config.namespace, secretName: config.webhookSecret, hosts: config.webhookHosts };
  if (config.webhookCertMode === 'external') return new ExternalWebhookTls({ clients, ...where });
  const tls = new WebhookTls({
    ...where,
    core: clients.core,
    admission: clients.config.makeApiClient(AdmissionregistrationV1Api),
    webhookConfigName: config.webhookConfigName,
    renewBeforeMs: config.webhookRenewBefore,
    certDays: Math.ceil(config.webhookCertValidity / 86_400_000),
    log,
  });
  return { load: () => tls.ensure(), publish: (caCert) => tls.patchCaBundle(caCert) };
}

const sameCertificates = (a: ServedCertificates, b: ServedCertificates) =>
  a.cert === b.cert && a.key === b.key && a.caCert === b.caCert;

/** The webhook label of the review metrics, by path. */
const WEBHOOK_NAMES: Record<string, string> = {
  [MUTATE_PODS_PATH]: 'pods',
  [VALIDATE_POLICIES_PATH]: 'agentaccesspolicies',
  [MUTATE_APPROVALS_PATH]: 'queryapprovals',
};

/** Native sidecars (init containers with restartPolicy Always) are on by default from Kubernetes 1.29. */
async function detectSidecarMode(clients: KubeClients, log: Log): Promise<'native' | 'container'> {
  const version = await clients.config.makeApiClient(VersionApi).getCode();
  const minor = Number.parseInt(version.minor, 10);
  const mode = Number(version.major) > 1 || minor >= 29 ? 'native' : 'container';
  log('kubernetes-version', { gitVersion: version.gitVersion, sidecarMode: mode });
  return mode;
}
