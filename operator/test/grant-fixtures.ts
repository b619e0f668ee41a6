import { sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { V1Pod } from '@kubernetes/client-node';
import type { TestCluster } from '@pgwarden/e2e';

// Calling the grant API the way a sidecar does, with tokens the real API server issues.

export interface GrantAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** POST to the grant API over HTTPS, trusting only the operator's CA. */
export function postGrant(
  url: string,
  ca: string,
  token: string | null,
  body: unknown = {},
): Promise<GrantAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca,
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** The grant URL of an operator started with servedWebhooks' flags (the grant API shares the webhook listener). */
export function grantUrlOf(serveFlags: readonly string[]): string {
  const listen = serveFlags[serveFlags.indexOf('--webhook-listen') + 1] ?? '';
  return `https://127.0.0.1:${listen.slice(listen.lastIndexOf(':') + 1)}/v1/grants`;
}

/** The operator's CA from its Secret: what the webhook injects into pods as pgwarden.io/grant-ca. */
export async function operatorCa(k8s: TestCluster, operatorNamespace: string): Promise<string> {
  const base64 = await k8s.kubectlOk([
    ...['get', 'secret', 'pgwarden-webhook-tls', '-n', operatorNamespace],
    ...['-o', 'jsonpath={.data.ca\\.crt}'],
  ]);
  return Buffer.from(base64, 'base64').toString('utf8');
}

/** `kubectl create token`: a TokenRequest token bound to the pod, as the kubelet mounts it (default audience pgwarden.io). */
export function boundToken(k8s: TestCluster, pod: V1Pod, audience = 'pgwarden.io'): Promise<string> {
  return k8s.kubectlOk([
    ...['create', 'token', pod.spec?.serviceAccountName ?? 'default', '-n', pod.metadata?.namespace ?? ''],
    ...['--audience', audience, '--duration', '10m'],
    ...['--bound-object-kind', 'Pod', '--bound-object-name', pod.metadata?.name ?? ''],
    ...['--bound-object-uid', pod.metadata?.uid ?? ''],
  ]);
}

/**
 * A copy of a real projected token with its times moved into the past,
 * signed with the control plane's service-account key: a token the API
 * server itself issued, except that it has expired.
 */
export async function expiredCopy(token: string, signingKeyFile: string): Promise<string> {
  const [header = '', payload = ''] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const expired = { ...claims, iat: now - 3600, nbf: now - 3600, exp: now - 1800 };
  const body = `${header}.${Buffer.from(JSON.stringify(expired)).toString('base64url')}`;
  const key = await readFile(signingKeyFile, 'utf8');
  const signature = sign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' });
  return `${body}.${signature.toString('base64url')}`;
}
