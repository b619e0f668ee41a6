import { type OidcConfig, OidcProviderUrlSchema, parseDurationMs } from '@pgwarden/crds';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';

/** Asymmetric algorithms only: a JWKS holds public keys, and an HMAC "key" from it would be a shared secret. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** How long a discovery or JWKS request may take. */
const FETCH_TIMEOUT_MS = 5_000;

/** A token that does not verify; the message says why, for the client, and never repeats the token. */
export class OidcTokenError extends Error {
  override name = 'OidcTokenError';
}

/** The issuer's keys cannot be had (discovery or JWKS unreachable): not the token's fault. */
export class OidcProviderError extends Error {
  override name = 'OidcProviderError';
}

type Verifiable = Pick<OidcConfig, 'issuer' | 'audience' | 'jwksUrl' | 'clockTolerance'>;

/**
 * Verifies OIDC ID tokens with jose: the signature against the issuer's JWKS
 * (found through <issuer>/.well-known/openid-configuration unless jwksUrl is
 * given; jose refetches it when a token names an unknown key, so key rotation
 * needs no restart), then iss, aud, exp (required) and nbf with the
 * configured clock tolerance.
 */
export class OidcVerifier {
  readonly #config: Verifiable;
  readonly #toleranceSeconds: number;
  #keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  constructor(config: Verifiable) {
    this.#config = config;
    this.#toleranceSeconds = Math.ceil((parseDurationMs(config.clockTolerance) ?? 0) / 1000);
  }

  /** The token's claims, or OidcTokenError / OidcProviderError. */
  async verify(token: string): Promise<JWTPayload> {
    const keys = await this.#jwks();
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: this.#config.issuer,
        audience: this.#config.audience,
        algorithms: ALGORITHMS,
        clockTolerance: this.#toleranceSeconds,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (error) {
      throw explain(error, this.#config);
    }
  }

  /** The key set, from the discovery document the first time; a failed discovery is tried again next time. */
  #jwks(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (!this.#keys) {
      this.#keys = this.#jwksUrl().then((url) =>
        createRemoteJWKSet(url, { timeoutDuration: FETCH_TIMEOUT_MS }),
      );
      this.#keys.catch(() => {
        this.#keys = undefined;
      });
    }
    return this.#keys;
  }

  async #jwksUrl(): Promise<URL> {
    if (this.#config.jwksUrl) return new URL(this.#config.jwksUrl);
    const where = `${this.#config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(where, {
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = (await response.json()) as typeof document;
    } catch (error) {
      throw new OidcProviderError(`cannot read the OIDC discovery document ${where}: ${String(error)}`);
    }
    if (document.issuer !== this.#config.issuer) {
      throw new OidcProviderError(
        `${where} names issuer ${JSON.stringify(document.issuer)}, not the configured ${this.#config.issuer}`,
      );
    }
    const jwksUri = OidcProviderUrlSchema.safeParse(document.jwks_uri);
    if (!jwksUri.success) {
      throw new OidcProviderError(
        `${where} has no usable jwks_uri (an https URL): ${JSON.stringify(document.jwks_uri)}`,
      );
    }
    return new URL(jwksUri.data);
  }
}

function explain(error: unknown, config: Verifiable): Error {
  if (error instanceof errors.JWTExpired) return new OidcTokenError('the token has expired; get a new one');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return new OidcTokenError(`the token was not issued by ${config.issuer}`);
      case 'aud':
        return new OidcTokenError(`the token is not for audience ${[config.audience].flat().join(' or ')}`);
      case 'nbf':
        return new OidcTokenError('the token is not valid yet (nbf is in the future)');
      case 'exp':
        return new OidcTokenError('the token has no expiry (exp); only expiring tokens are accepted');
      default:
        return new OidcTokenError(`the token's ${error.claim} claim is invalid: ${error.reason}`);
    }
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed) {
    return new OidcTokenError(`the token's signature does not verify with the keys of ${config.issuer}`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new OidcTokenError(
      `the token is signed with an algorithm not accepted (${ALGORITHMS.join(', ')})`,
    );
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return new OidcProviderError(`cannot read the signing keys of ${config.issuer}: ${error.message}`);
  }
  if (error instanceof errors.JOSEError) {
    return new OidcTokenError(`the password is not a valid OIDC token (${error.code})`);
  }
  return error instanceof Error ? new OidcProviderError(error.message) : new OidcProviderError(String(error));
}
