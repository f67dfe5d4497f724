import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { UnauthenticatedError } from '../access/errors.ts';
import type { Principal } from '../access/principal.ts';
import type { TokenStore } from '../access/tokens.ts';
import { RequestError } from './failures.ts';

export interface AuthenticatorOptions {
  tokens: TokenStore;
  /** Failed authentications allowed per client address within FAILURE_WINDOW_SECONDS. @default 20 */
  failureLimit?: number;
  /**
   * Which proxies in front of the gateway to believe about the client's address (X-Forwarded-For):
   * comma-separated addresses, subnets or `loopback`, `linklocal`, `uniquelocal` (proxy-addr's syntax).
   * Unset: none, the address is the peer's.
   */
  trustProxy?: string;
}

/** Checks the token a request or a WebSocket carries: `Authorization: Bearer <token>`. */
export type Authenticate = (authorization: string | null | undefined, client: IncomingMessage | undefined) => Promise<Principal | null>;

/** The window in which an address's failed authentications are counted. */
const FAILURE_WINDOW_SECONDS = 60;

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

/** The address of a request's client: the peer, or what trusted proxies in front say (X-Forwarded-For). */
export type ClientAddress = (client: IncomingMessage | undefined) => string;

/** `trustProxy`: comma-separated addresses, subnets or `loopback`, `linklocal`, `uniquelocal` (proxy-addr's syntax). */
export function clientAddressOf(trustProxy: string | undefined): ClientAddress {
  const trusted = trustProxy ? proxyaddr.compile(trustProxy.split(',').map((entry) => entry.trim()).filter(Boolean)) : () => false;
  return (client) => (client ? proxyaddr(client, trusted) : 'in-process');
}

/**
 * The one place a presented token is checked, for GraphQL over HTTP, WebSocket and REST alike. No token
 * is an anonymous caller (who may read the schema and nothing else); a token the hub does not accept
 * is refused outright, and counted: an address with too many failures is refused for a while (429),
 * so tokens cannot be guessed at speed.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticate {
  const points = options.failureLimit ?? 20;
  const failures = new RateLimiterMemory({ points, duration: FAILURE_WINDOW_SECONDS });
  const addressOf = clientAddressOf(options.trustProxy);

  const windowMs = FAILURE_WINDOW_SECONDS * 1000;
  // While no token was refused within the window, no address can be over the limit: the common case
  // (every caller presents a good token) skips working out the address and asking the limiter.
  let lastFailureAt = Number.NEGATIVE_INFINITY;

  const tooMany = (msBeforeNext: number) => {
    const seconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return new RequestError(429, 'TOO_MANY_FAILED_AUTHENTICATIONS', `too many failed authentications from this address: retry in ${seconds} s`, {
      'retry-after': String(seconds),
    });
  };

  async function reservePoint(client: IncomingMessage | undefined): Promise<void> {
    try {
      await failures.consume(addressOf(client), 1);
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) throw tooMany(refusal.msBeforeNext);
      throw refusal;
    }
  }

  async function refuse(client: IncomingMessage | undefined, error: UnauthenticatedError, alreadyCounted = false): Promise<never> {
    lastFailureAt = Date.now();
    if (!alreadyCounted) await failures.penalty(addressOf(client), 1);
    throw error;
  }

  return async function authenticate(authorization, client) {
    if (authorization == null || authorization === '') return null;
    const record = Date.now() - lastFailureAt < windowMs ? await failures.get(addressOf(client)) : null;
    if (record && record.consumedPoints >= points) throw tooMany(record.msBeforeNext);
    const match = BEARER.exec(authorization);
    if (!match) return refuse(client, new UnauthenticatedError('send the token as "Authorization: Bearer <token>"'));
    // A token this gateway has not accepted before is looked up in the database, and costs its address a
    // point first, given back if it is good: guesses sent in parallel cannot outrun the limit.
    let counted = false;
    try {
      const principal = await options.tokens.authenticate(match[1]!, async () => {
        await reservePoint(client);
        counted = true;
      });
      if (counted) await failures.reward(addressOf(client), 1);
      return principal;
    } catch (error) {
      if (error instanceof UnauthenticatedError) return refuse(client, error, counted);
      throw error;
    }
  };
}
