import { request } from 'node:https';

export interface TlsIdentity {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One GET over TLS with an optional client certificate; connection errors reject. */
export function httpsGet(url: string, identity: TlsIdentity, timeoutMs = 5_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca: identity.caPem, cert: identity.certPem, key: identity.keyPem, timeout: timeoutMs, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
