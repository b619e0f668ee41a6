import { ListWatch, type V1Secret, Watch } from '@kubernetes/client-node';
import { apiStatus, type KubeClients } from '../kube/clients.js';
import { keepWatching } from '../kube/watch.js';
import type { Log } from '../reconcile/loop.js';
import { type ServedCertificates, servedCertificateProblem } from './certificates.js';

/** The keys of a kubernetes.io/tls Secret, as cert-manager writes them. */
const KEYS = { cert: 'tls.crt', key: 'tls.key', caCert: 'ca.crt' } as const;

export interface ExternalWebhookTlsOptions {
  clients: KubeClients;
  /** The operator's namespace, where the Secret lives. */
  namespace: string;
  secretName: string;
  /** DNS names and IPs the serving certificate must name. */
  hosts: readonly string[];
}

/** The Secret exists or not, but cannot be served; the message says why and what to do. */
export class UnusableWebhookSecret extends Error {
  override name = 'UnusableWebhookSecret';
}

/**
 * Webhook TLS that someone else manages (--webhook-cert-mode external),
 * typically cert-manager: the operator reads tls.crt, tls.key and ca.crt from
 * the Secret and never writes it, and the caBundle is cert-manager's
 * cainjector's to fill. A watch on that one Secret (by name, so RBAC can be
 * limited to it) reports a renewal, or the Secret appearing after the
 * Deployment, as it happens.
 */
export class ExternalWebhookTls {
  readonly #o: ExternalWebhookTlsOptions;

  constructor(options: ExternalWebhookTlsOptions) {
    this.#o = options;
  }

  /** The certificates to serve; throws {@link UnusableWebhookSecret} naming what is wrong with the Secret. */
  async load(): Promise<ServedCertificates> {
    const { clients, namespace, secretName: name, hosts } = this.#o;
    const where = `webhook Secret ${namespace}/${name}`;
    let secret: V1Secret;
    try {
      secret = await clients.core.readNamespacedSecret({ name, namespace });
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
      throw new UnusableWebhookSecret(
        `${where} does not exist: with --webhook-cert-mode external, cert-manager (or whoever issues the certificate) ` +
          'writes tls.crt, tls.key and ca.crt there; the operator serves them once they are usable ' +
          `(kubectl describe certificate -n ${namespace} tells why cert-manager has not issued it yet)`,
      );
    }
    const data = secret.data ?? {};
    const missing = Object.values(KEYS).filter((key) => !data[key]);
    if (missing.length > 0) {
      throw new UnusableWebhookSecret(
        `${where} has no ${missing.join(', ')}: it needs tls.crt, tls.key and ca.crt ` +
          '(the CA that signs tls.crt, which the sidecars verify the grant API with; ' +
          'cert-manager writes it for CA and self-signed issuers)',
      );
    }
    const text = (key: string) => Buffer.from(data[key] as string, 'base64').toString('utf8');
    const served = { cert: text(KEYS.cert), key: text(KEYS.key), caCert: text(KEYS.caCert) };
    const problem = servedCertificateProblem(served, hosts);
    if (problem) throw new UnusableWebhookSecret(`${where} cannot be served: ${problem}`);
    return served;
  }

  /** Calls `changed` whenever the Secret is created, updated or deleted, until stopped. */
  watch(changed: () => void, log: Log): { start(): Promise<void>; stop(): Promise<void> } {
    const { clients, namespace, secretName: name } = this.#o;
    const fieldSelector = `metadata.name=${name}`;
    const informer = new ListWatch<V1Secret>(
      `/api/v1/namespaces/${namespace}/secrets`,
      new Watch(clients.config),
      () => clients.core.listNamespacedSecret({ namespace, fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, changed);
    const watching = keepWatching(informer, (error, retryInMs) =>
      log('webhook-secret-watch-error', { retryInMs, error: String(error) }),
    );
    return { start: () => informer.start(), stop: () => watching.stop() };
  }
}
