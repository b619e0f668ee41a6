import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * A real OpenID Provider (oidc-provider) on 127.0.0.1 for tests. CI jobs are
 * its clients: each gets tokens through the client_credentials grant, with the
 * claims a CI system would put in (repository, ref) and an audience chosen by
 * resource indicator, signed RS256 with a key served from its JWKS.
 */

/** Resource indicators the tests ask for, and the audience each gives the token. */
export const RESOURCES = {
  pgwarden: { indicator: 'urn:test:pgwarden', audience: 'pgwarden', ttlSeconds: 600 },
  /** Same audience, a token that expires 2 s after it is issued. */
  shortLived: { indicator: 'urn:test:pgwarden-short', audience: 'pgwarden', ttlSeconds: 2 },
  other: { indicator: 'urn:test:other', audience: 'another-service', ttlSeconds: 600 },
} as const;

export interface TestIssuer {
  /** The issuer URL (`iss`), http://127.0.0.1:<port>. */
  issuer: string;
  /** A token for `client` (one of the `jobs` given at start) with `resource`'s audience. */
  token(client: string, resource?: keyof typeof RESOURCES): Promise<string>;
  close(): Promise<void>;
}

type Jwk = Record<string, unknown>;

/** A private RSA JWK; two issuers given the same one sign interchangeably. */
export function signingKey(): Jwk {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...(privateKey.export({ format: 'jwk' }) as Jwk), kid: 'test-key', use: 'sig', alg: 'RS256' };
}

export async function startIssuer(
  jobs: Record<string, Record<string, string>>,
  key = signingKey(),
): Promise<TestIssuer> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const byIndicator = new Map(Object.values(RESOURCES).map((r) => [r.indicator as string, r]));
  const provider = new Provider(issuer, {
    clients: Object.keys(jobs).map((client_id) => ({
      client_id,
      client_secret: `${client_id}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys: [key] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCES.pgwarden.indicator,
        getResourceServerInfo: (_ctx, indicator) => {
          const resource = byIndicator.get(indicator);
          if (!resource) throw new Error(`unknown resource ${indicator}`);
          return {
            scope: 'db',
            audience: resource.audience,
            accessTokenTTL: resource.ttlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => (token.clientId ? jobs[token.clientId] : undefined),
  });
  // The provider logs server errors to the console by default; a test reads them from its responses.
  provider.on('server_error', () => {});
  server.on('request', provider.callback());
  return {
    issuer,
    token: async (client, resource = 'pgwarden') => {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client,
          client_secret: `${client}-secret`,
          resource: RESOURCES[resource].indicator,
          scope: 'db',
        }),
      });
      const body = (await response.json()) as { access_token?: string; error_description?: string };
      if (!response.ok || !body.access_token) {
        throw new Error(`token request for ${client} failed: ${response.status} ${JSON.stringify(body)}`);
      }
      return body.access_token;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
