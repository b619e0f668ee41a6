import type { AdmissionregistrationV1Api, CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { apiStatus } from '../kube/clients.js';
import type { Log } from '../reconcile/loop.js';
import {
  caOutlives,
  checkCertificates,
  issueCertificates,
  type WebhookCertificates,
} from './certificates.js';

/** What both webhook configuration kinds share. */
type Configuration = { webhooks?: { clientConfig: { caBundle?: string } }[] };

const KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

export interface WebhookTlsOptions {
  core: CoreV1Api;
  admission: AdmissionregistrationV1Api;
  /** The operator's namespace, where the Secret lives. */
  namespace: string;
  secretName: string;
  webhookConfigName: string;
  /** DNS names and IPs the serving certificate must name (the Service's, or 127.0.0.1 in tests). */
  hosts: readonly string[];
  /** Rotate this long before either certificate expires. */
  renewBeforeMs: number;
  certDays: number;
  log?: Log;
}

/**
 * Self-managed webhook TLS. The certificates live in one Secret, so every
 * replica serves the same ones and the caBundle names one CA; whichever
 * replica finds them missing, expiring or not naming the hosts issues new ones
 * (reusing the CA while it outlives them, so the caBundle stays valid), and a
 * replica that loses that race (409) takes the winner's.
 */
export class WebhookTls {
  readonly #o: WebhookTlsOptions;

  constructor(options: WebhookTlsOptions) {
    this.#o = options;
  }

  /** The certificates to serve, issued or rotated first when needed. */
  async ensure(): Promise<WebhookCertificates> {
    for (let attempt = 1; ; attempt++) {
      const secret = await this.#read();
      const stored = secret && fromSecret(secret);
      const verdict = stored && checkCertificates(stored, this.#o.hosts, this.#o.renewBeforeMs);
      if (stored && verdict?.usable) return stored;
      const keepCa = stored && caOutlives(stored, this.#o.certDays + this.#o.renewBeforeMs / 86_400_000);
      const issued = await issueCertificates(this.#o.hosts, {
        ca: keepCa ? stored : undefined,
        days: this.#o.certDays,
      });
      this.#o.log?.('webhook-certificate-issued', {
        why: verdict && !verdict.usable ? verdict.why : 'none stored',
        newCa: !keepCa,
        hosts: this.#o.hosts,
      });
      try {
        await this.#write(secret, issued);
        return issued;
      } catch (error) {
        if (apiStatus(error) !== 409 || attempt >= 3) throw error;
      }
    }
  }

  /**
   * Sets the caBundle of every webhook in both configurations (mutating and
   * validating, same name) to the CA; true when something changed. A missing
   * configuration is skipped: an installation may leave one out.
   */
  async patchCaBundle(caCert: string): Promise<boolean> {
    const caBundle = Buffer.from(caCert).toString('base64');
    const { admission, webhookConfigName: name } = this.#o;
    const kinds = [
      {
        kind: 'MutatingWebhookConfiguration',
        read: () => admission.readMutatingWebhookConfiguration({ name }),
        replace: (body: Configuration) =>
          admission.replaceMutatingWebhookConfiguration({ name, body: body as never }),
      },
      {
        kind: 'ValidatingWebhookConfiguration',
        read: () => admission.readValidatingWebhookConfiguration({ name }),
        replace: (body: Configuration) =>
          admission.replaceValidatingWebhookConfiguration({ name, body: body as never }),
      },
    ];
    let changed = false;
    for (const { kind, read, replace } of kinds) {
      for (let attempt = 1; ; attempt++) {
        let config: Configuration;
        try {
          config = await read();
        } catch (error) {
          if (apiStatus(error) === 404) break;
          throw error;
        }
        const webhooks = config.webhooks ?? [];
        if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) break;
        for (const webhook of webhooks) webhook.clientConfig.caBundle = caBundle;
        try {
          // resourceVersion from the read: a concurrent change is a 409, then we re-read.
          await replace(config);
          this.#o.log?.('webhook-cabundle-patched', { kind, name, webhooks: webhooks.length });
          changed = true;
          break;
        } catch (error) {
          if (apiStatus(error) !== 409 || attempt >= 3) throw error;
        }
      }
    }
    return changed;
  }

  async #read(): Promise<V1Secret | undefined> {
    try {
      return await this.#o.core.readNamespacedSecret({
        name: this.#o.secretName,
        namespace: this.#o.namespace,
      });
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }

  async #write(previous: V1Secret | undefined, certificates: WebhookCertificates): Promise<void> {
    const { core, namespace, secretName: name } = this.#o;
    const data = Object.fromEntries(
      Object.entries(KEYS).map(([field, key]) => [
        key,
        Buffer.from(certificates[field as keyof WebhookCertificates]).toString('base64'),
      ]),
    );
    const body: V1Secret = {
      metadata: {
        name,
        namespace,
        resourceVersion: previous?.metadata?.resourceVersion,
        labels: { 'app.kubernetes.io/part-of': 'pgwarden', 'app.kubernetes.io/component': 'webhook' },
      },
      type: 'Opaque',
      data,
    };
    if (previous) await core.replaceNamespacedSecret({ name, namespace, body });
    else await core.createNamespacedSecret({ namespace, body });
  }
}

function fromSecret(secret: V1Secret): WebhookCertificates | undefined {
  const data = secret.data ?? {};
  const text = (key: string) =>
    data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString();
  const [caCert, caKey, cert, key] = [KEYS.caCert, KEYS.caKey, KEYS.cert, KEYS.key].map(text);
  if (!caCert || !caKey || !cert || !key) return undefined;
  return { caCert, caKey, cert, key };
}
