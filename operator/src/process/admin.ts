import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Probes {
  /** The process works at all (event loop turning, not shutting down). */
  live(): boolean;
  /** The replica can do its job: as a standby, campaign and serve; as the leader, its caches are synced. */
  ready(): boolean;
}

/** Serves /metrics, /healthz and /readyz; resolves once listening. */
export async function serveAdmin(
  listen: { host: string; port: number },
  registry: Registry,
  probes: Probes,
): Promise<{ address: AddressInfo; close(): Promise<void> }> {
  const answer = (res: ServerResponse, ok: boolean) =>
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ok\n');
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return answer(res, probes.live());
    if (path === '/readyz') return answer(res, probes.ready());
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(`${error.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics, /healthz or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(listen.port, listen.host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
