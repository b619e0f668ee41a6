import { z } from 'zod';

/**
 * TLS towards the upstream server, with libpq's meanings:
 * - disable: plaintext;
 * - prefer: TLS when the server offers it, unverified; plaintext otherwise;
 * - require: TLS, certificate not verified;
 * - verify-ca: TLS, certificate chain verified against the CA;
 * - verify-full: verify-ca plus the host name must match the certificate.
 */
export const SslModeSchema = z
  .enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full'])
  .describe('TLS mode towards the upstream server, as libpq sslmode.');
export type SslMode = z.infer<typeof SslModeSchema>;

/** Where and as whom the sidecar connects upstream. The password travels separately, never in this shape. */
export const UpstreamEndpointSchema = z
  .object({
    host: z.string().min(1).describe('Host name or IP address of the PostgreSQL server.'),
    port: z.number().int().min(1).max(65535).default(5432).describe('TCP port of the PostgreSQL server.'),
    database: z.string().min(1).describe('Database every client session is pinned to.'),
    user: z.string().min(1).describe('Role the sidecar authenticates as upstream.'),
    sslMode: SslModeSchema,
    sslRootCert: z
      .string()
      .min(1)
      .optional()
      .describe(
        'PEM file with the CA certificate(s) that sign the server certificate; "system" for the OS trust store.',
      ),
    connectTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Upstream connect + handshake timeout.'),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.sslMode === 'verify-ca' || v.sslMode === 'verify-full') && !v.sslRootCert) {
      ctx.addIssue({
        code: 'custom',
        path: ['sslRootCert'],
        message: `sslmode=${v.sslMode} needs sslrootcert (a CA file, or "system")`,
      });
    }
  });
export type UpstreamEndpoint = z.infer<typeof UpstreamEndpointSchema>;
