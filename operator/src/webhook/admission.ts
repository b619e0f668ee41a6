import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import type { Log } from '../reconcile/loop.js';
import type { WebhookCertificates } from './certificates.js';
import { decideInjection, type InjectionContext } from './inject.js';

export const MUTATE_PODS_PATH = '/mutate-pods';
/** The API server sends at most ~3 MiB objects; anything larger is not an AdmissionReview from it. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  namespace?: string;
  operation?: string;
  object?: V1Pod;
}

export type WebhookResult = 'injected' | 'skipped' | 'refused';

export interface WebhookServerOptions {
  listen: { host: string; port: number };
  certificates: WebhookCertificates;
  context: (namespace: string) => InjectionContext;
  /** Per review: its result and how long answering took. */
  observe?: (result: WebhookResult, seconds: number) => void;
  log?: Log;
}

/**
 * The mutating admission webhook over HTTPS. Any failure to decide refuses
 * the pod (allowed: false) rather than letting it through unmodified: the
 * configuration's namespaceSelector already limits the webhook to
 * namespaces that require pgwarden.
 */
export async function serveWebhook(options: WebhookServerOptions): Promise<{
  address: AddressInfo;
  setCertificates(certificates: WebhookCertificates): void;
  close(): Promise<void>;
}> {
  const server: Server = createServer(
    { cert: options.certificates.cert, key: options.certificates.key, minVersion: 'TLSv1.2' },
    (req, res) => {
      const started = performance.now();
      const reply = (status: number, body: unknown, result?: WebhookResult) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (result) options.observe?.(result, (performance.now() - started) / 1000);
      };
      if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== MUTATE_PODS_PATH) {
        reply(404, { error: `POST ${MUTATE_PODS_PATH} only` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          reply(413, { error: 'AdmissionReview too large' });
          req.destroy();
        } else chunks.push(chunk);
      });
      req.on('end', () => {
        if (res.writableEnded) return;
        let request: AdmissionRequest | undefined;
        try {
          request = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: AdmissionRequest })
            .request;
        } catch {
          // Not JSON: no uid to answer with.
        }
        if (!request?.uid) {
          reply(400, { error: 'not an AdmissionReview' });
          return;
        }
        const { response, result } = review(request, options);
        reply(200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, result);
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(options.listen.port, options.listen.host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    setCertificates: ({ cert, key }) => server.setSecureContext({ cert, key, minVersion: 'TLSv1.2' }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function review(
  request: AdmissionRequest,
  options: WebhookServerOptions,
): { response: Record<string, unknown>; result: WebhookResult } {
  const { uid } = request;
  const namespace = request.namespace ?? request.object?.metadata?.namespace ?? '';
  if (request.kind?.kind !== 'Pod' || request.operation !== 'CREATE' || !request.object) {
    return { response: { uid, allowed: true }, result: 'skipped' };
  }
  try {
    const decision = decideInjection(request.object, options.context(namespace));
    const pod = request.object.metadata?.name ?? `${request.object.metadata?.generateName ?? ''}*`;
    if (!decision.inject) {
      options.log?.('pod-not-injected', { namespace, pod, reason: decision.reason });
      return { response: { uid, allowed: true }, result: 'skipped' };
    }
    options.log?.('pod-injected', { namespace, pod });
    const patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    return { response: { uid, allowed: true, patchType: 'JSONPatch', patch }, result: 'injected' };
  } catch (error) {
    options.log?.('webhook-error', { namespace, error: String(error) });
    return {
      response: {
        uid,
        allowed: false,
        status: { code: 500, message: `pgwarden could not inject its sidecar: ${(error as Error).message}` },
      },
      result: 'refused',
    };
  }
}
