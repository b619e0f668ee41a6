import type { PostgresCluster, Role } from '@pgwarden/e2e';
import type { DestinationStream } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { loadProxyConfig, type ProxyOptions } from '../../src/config/proxy-config.js';
import { createLogger } from '../../src/observe/log.js';
import { type RunningProxy, startProxy } from '../../src/proxy/server.js';

export interface TestProxy extends RunningProxy {
  port: number;
  /** A libpq URL that reaches the upstream through the proxy. */
  url(params?: Record<string, string>): string;
}

/** Starts the proxy in this process in front of `cluster`, as `role`, with any extra options. */
export async function startTestProxy(
  cluster: PostgresCluster,
  options: Partial<ProxyOptions> & {
    role?: Role;
    upstreamParams?: Record<string, string>;
    /** Where the JSON logs go (default stderr); tests capture them to check what is logged. */
    logDestination?: DestinationStream;
  } = {},
): Promise<TestProxy> {
  const { role = 'superuser', upstreamParams, logDestination, ...rest } = options;
  const config = loadProxyConfig({
    listen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    upstream: cluster.url(role, upstreamParams),
    policy: 'none',
    logLevel: (process.env.PGWARDEN_TEST_LOG ?? 'silent') as ProxyOptions['logLevel'],
    ...rest,
  });
  const proxy = await startProxy(config, createLogger(config.logLevel, logDestination ?? 2));
  const port = proxy.address.port;
  return {
    ...proxy,
    port,
    url: (params = {}) => {
      const query = new URLSearchParams(params).toString();
      return `postgresql://agent@127.0.0.1:${port}/app${query ? `?${query}` : ''}`;
    },
  };
}

/** beforeAll/afterAll wrapper: `const proxy = useProxy(pg)` then `proxy().port` inside tests. */
export function useProxy(
  cluster: () => PostgresCluster,
  options: Parameters<typeof startTestProxy>[1] = {},
): () => TestProxy {
  let proxy: TestProxy | undefined;
  beforeAll(async () => {
    proxy = await startTestProxy(cluster(), options);
  });
  afterAll(async () => {
    await proxy?.drain(1000);
  });
  return () => {
    if (!proxy) throw new Error('useProxy: the proxy is not started yet (use it inside a test or hook)');
    return proxy;
  };
}
