import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface AdminProbes {
  /** Live: the process can serve requests at all. */
  healthy(): boolean;
  /** Ready: new client connections would be accepted. */
  ready(): boolean;
}

/** /metrics, /healthz and /readyz on a port apart from the Postgres listener. */
export async function startAdminServer(
  listen: { host: string; port: number },
  registry: Registry,
  probes: AdminProbes,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
          () => res.writeHead(500).end('metrics collection failed\n'),
        );
        return;
      case '/healthz':
        probe(res, probes.healthy(), 'ok', 'unhealthy');
        return;
      case '/readyz':
        probe(res, probes.ready(), 'ready', 'not ready');
        return;
      default:
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('not found; try /metrics, /healthz or /readyz\n');
    }
  });
  return { server, address: await listenOn(server, listen) };
}

/** Starts `server` listening; rejects when the address cannot be bound. */
export async function listenOn(server: Server, listen: { host: string; port: number }): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

function probe(res: import('node:http').ServerResponse, ok: boolean, yes: string, no: string): void {
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${ok ? yes : no}\n`);
}
