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
import type { WebhookCertificates } from './certificates.js';
import { podReviewer } from './pod-review.js';
import { policyReviewer } from './policy-review.js';
import type { SidecarSettings } from './sidecar.js';
import { WebhookTls } from './tls.js';

/**
 * The webhooks (pod injection, policy validation, approval decisions) as the operator runs them, on every replica (admission does
 * not wait for a leader): certificates from the shared Secret, the caBundle
 * kept current, and both re-checked every --webhook-check-interval so a
 * rotation or a re-created configuration is repaired without a restart.
 */
export async function startWebhook(
  config: OperatorConfig,
  listen: { host: string; port: number },
  clients: KubeClients,
  metrics: OperatorMetrics,
  log: Log,
  /** The sidecar-facing APIs (grants, approvals) served on the same listener, by path prefix. */
  handlers: Readonly<Record<string, HttpHandler>> = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const tls = new WebhookTls({
    core: clients.core,
    admission: clients.config.makeApiClient(AdmissionregistrationV1Api),
    namespace: config.namespace,
    secretName: config.webhookSecret,
    webhookConfigName: config.webhookConfigName,
    hosts: config.webhookHosts,
    renewBeforeMs: config.webhookRenewBefore,
    certDays: Math.ceil(config.webhookCertValidity / 86_400_000),
    log,
  });
  let certificates = await tls.ensure();
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
    grantCaPem: certificates.caCert,
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
    certificates,
    handlers,
    reviewers: {
      [MUTATE_PODS_PATH]: podReviewer((namespace) => ({ namespace, protectedNamespaces, settings }), log),
      [VALIDATE_POLICIES_PATH]: policyReviewer,
      [MUTATE_APPROVALS_PATH]: decisionReviewer(() => operatorUser),
    },
    observe: (path, result, seconds) => {
      const webhook = WEBHOOK_NAMES[path] ?? path;
      metrics.webhookReviews.inc({ webhook, result });
      metrics.webhookSeconds.observe({ webhook }, seconds);
      metrics.webhookSecondsHistogram.observe({ webhook }, seconds);
    },
  });
  const expiry = (c: WebhookCertificates) =>
    metrics.webhookCertificateExpiry.set(new Date(new X509Certificate(c.cert).validTo).getTime() / 1000);
  expiry(certificates);
  log('webhook-listening', {
    port: server.address.port,
    sidecarMode: settings.mode,
    hosts: config.webhookHosts,
  });

  const check = async () => {
    await knowOperatorUser().catch((error: unknown) =>
      log('operator-user-unknown', { error: String(error) }),
    );
    try {
      const current = await tls.ensure();
      if (current.cert !== certificates.cert) {
        certificates = current;
        settings.grantCaPem = current.caCert;
        server.setCertificates(current);
        expiry(current);
        log('webhook-certificate-reloaded', {});
      }
      await tls.patchCaBundle(current.caCert);
    } catch (error) {
      log('webhook-tls-check-failed', { error: String(error) });
    }
  };
  await check();
  const timer = setInterval(() => void check(), config.webhookCheckInterval);
  timer.unref();
  return {
    port: server.address.port,
    async close() {
      clearInterval(timer);
      await server.close();
    },
  };
}

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
