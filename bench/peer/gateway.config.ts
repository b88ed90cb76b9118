/**
 * Hive Gateway's configuration for the peer of `python -m bench` (bench/peer.py). Plain (no
 * options) unless PEER_JWT=1: then every request must carry a bearer token that verifies
 * against the sandbox IdP's JWKS (RS256, issuer and audience checked), as Switchboard and the
 * floor verify one on every request (`python -m bench --peer-jwt`).
 *
 *   SANDBOX_URL  base URL of `switchboard sandbox` (bench/peer.py sets it)
 */
import {
  createRemoteJwksSigningKeyProvider,
  defineConfig,
  extractFromHeader,
} from '@graphql-hive/gateway';

const SANDBOX_URL = (process.env.SANDBOX_URL || 'http://127.0.0.1:9101').replace(/\/$/, '');

export const gatewayConfig = defineConfig(
  process.env.PEER_JWT === '1'
    ? {
        jwt: {
          tokenLookupLocations: [extractFromHeader({ name: 'authorization', prefix: 'Bearer' })],
          signingKeyProviders: [
            createRemoteJwksSigningKeyProvider({ jwksUri: `${SANDBOX_URL}/idp/.well-known/jwks.json` }),
          ],
          tokenVerification: {
            algorithms: ['RS256'],
            issuer: `${SANDBOX_URL}/idp`,
            audience: 'switchboard',
          },
          reject: { missingToken: true, invalidToken: true },
        },
      }
    : {},
);
