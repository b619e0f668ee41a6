import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServedCertificates } from './certificates.js';

type Certificate = Pick<ServedCertificates, 'cert' | 'key'>;

export const MUTATE_PODS_PATH = '/mutate-pods';
export const VALIDATE_POLICIES_PATH = '/validate-agentaccesspolicies';
export const MUTATE_APPROVALS_PATH = '/mutate-queryapprovals';
/** The API server sends at most ~3 MiB objects; anything larger is not an AdmissionReview from it. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The part of admission.k8s.io/v1 AdmissionRequest the reviewers read. */
export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  namespace?: string;
  name?: string;
  operation?: string;
  /** "status" for a write of the status subresource. */
  subResource?: string;
  object?: unknown;
  /** UPDATE: the object as stored before the change. */
  oldObject?: unknown;
  /** Who is making the request, as the API server authenticated them. */
  userInfo?: { username?: string; groups?: string[] };
}

/** AdmissionResponse without its uid, which the server copies from the request. */
export interface AdmissionVerdict {
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON patch. */
  patch?: string;
  status?: {
    code: number;
    reason?: string;
    message: string;
    details?: { causes: { field: string; message: string }[] };
  };
  /** Shown to the client (kubectl prints "Warning: …"); the request goes through. */
  warnings?: string[];
}

/** One webhook: a verdict and a word for metrics (injected, skipped, refused, allowed, denied). */
export type Review = { verdict: AdmissionVerdict; result: string };
export type Reviewer = (request: AdmissionRequest) => Review | Promise<Review>;

/**
 * A plain HTTPS endpoint sharing the webhook listener (and its operator-managed
 * certificate): the grant and approval APIs sidecars call. It owns the whole
 * exchange, including authentication of the caller.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface WebhookServerOptions {
  listen: { host: string; port: number };
  /** None yet: TLS handshakes fail until {@link setCertificates} gives one. */
  certificates: Certificate | undefined;
  /** By URL path. */
  reviewers: Readonly<Record<string, Reviewer>>;
  /** By path prefix: "/v1/grants" also serves "/v1/grants/…". */
  handlers?: Readonly<Record<string, HttpHandler>>;
  /** Per review: the webhook's path, its result and how long answering took. */
  observe?: (path: string, result: string, seconds: number) => void;
}

/**
 * The admission webhooks over HTTPS: AdmissionReview in, AdmissionReview out,
 * one reviewer per path. A reviewer that throws refuses the object
 * (allowed: false) rather than letting it through unreviewed.
 */
export async function serveWebhook(options: WebhookServerOptions): Promise<{
  address: AddressInfo;
  setCertificates(certificates: Certificate): void;
  close(): Promise<void>;
}> {
  const server: Server = createServer(
    { cert: options.certificates?.cert, key: options.certificates?.key, minVersion: 'TLSv1.2' },
    (req, res) => {
      const started = performance.now();
      const path = (req.url ?? '').split('?')[0] ?? '';
      const handler = Object.entries(options.handlers ?? {}).find(
        ([prefix]) => path === prefix || path.startsWith(`${prefix}/`),
      )?.[1];
      if (handler) {
        Promise.resolve()
          .then(() => handler(req, res))
          .catch(() => {
            if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: 'internal error' }));
          });
        return;
      }
      const reviewer = options.reviewers[path];
      const reply = (status: number, body: unknown, result?: string) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (result) options.observe?.(path, result, (performance.now() - started) / 1000);
      };
      if (req.method !== 'POST' || !reviewer) {
        reply(404, { error: `POST to ${Object.keys(options.reviewers).join(' or ')} only` });
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
      req.on('end', async () => {
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
        let review: Review;
        try {
          review = await reviewer(request);
        } catch (error) {
          const message = `pgwarden could not review this object: ${(error as Error).message}`;
          review = { verdict: { allowed: false, status: { code: 500, message } }, result: 'error' };
        }
        const response = { uid: request.uid, ...review.verdict };
        reply(200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }, review.result);
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
