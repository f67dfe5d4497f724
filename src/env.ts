import proxyaddr from 'proxy-addr';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { StartupError } from './startupError.ts';

function trustSpecIsValid(value: string): boolean {
  try {
    proxyaddr.compile(value.split(',').map((entry) => entry.trim()).filter(Boolean));
    return true;
  } catch {
    return false;
  }
}

// zod/mini: the same checks as zod's classic API, a twentieth of its code for the gateway's start to load.
z.config(en());

const optionalString = z.pipe(
  z.optional(z.string()),
  z.transform((value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim())),
);
/** A whole number in [min, max] from its text, or `fallback` when unset. */
const wholeNumber = (min: number, max: number, fallback: number) =>
  z._default(z.pipe(z.coerce.number(), z.int().check(z.minimum(min), z.maximum(max))), fallback);

/** `https://console.example.com`: a scheme, a host and a port if any; nothing else (CORS compares whole origins). */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

const commaList = (value: string | undefined) => (value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);

/** The gateway's settings, read once from the environment (names are part of the interface contract). */
export const settingsSchema = z.object({
  /** @default 4000 */
  PORT: wholeNumber(0, 65_535, 4000),
  /** @default '0.0.0.0' */
  HOST: z._default(z.string(), '0.0.0.0'),
  /** A PostgreSQL connection string; unset means the embedded PGlite database under CONFIGHUB_DATA_DIR. */
  DATABASE_URL: z.pipe(optionalString, z.optional(z.url({ protocol: /^postgres(ql)?$/ }))),
  /** A NATS server or cluster; unset means in-process events. */
  NATS_URL: optionalString,
  /** @default './.confighub' */
  CONFIGHUB_DATA_DIR: z._default(z.string(), './.confighub'),
  CONFIGHUB_ADMIN_TOKEN: optionalString,
  /** Proxies whose X-Forwarded-For is believed for the client address (failed-auth limits): addresses, subnets, `loopback`... */
  CONFIGHUB_TRUST_PROXY: optionalString.check(
    z.refine((value) => value === undefined || trustSpecIsValid(value), {
      error: 'comma-separated IP addresses, subnets (10.0.0.0/8) or loopback, linklocal, uniquelocal',
    }),
  ),
  /**
   * Browser origins allowed to call the API cross-origin (CORS), comma-separated, each exactly
   * `scheme://host[:port]`. Unset: none (same-origin pages, scripts and services are unaffected).
   */
  CONFIGHUB_CORS_ORIGINS: z.pipe(
    optionalString.check(
      z.refine((value) => commaList(value).every(isOrigin), { error: 'comma-separated origins such as https://console.example.com (scheme, host, port; no path)' }),
    ),
    z.transform(commaList),
  ),
  /**
   * `on`: the transports that go around parts of yoga and graphql-ws for speed (server/graphql/post.ts,
   * server/graphql/broadcast.ts) take what they can; `off`: every operation goes through stock yoga and
   * graphql-ws. The answers are the same either way (test/differential.test.ts). @default 'on'
   */
  CONFIGHUB_FAST_PATHS: z._default(z.enum(['on', 'off']), 'on'),
  /** Open WebSockets allowed per client address (behind a proxy, set CONFIGHUB_TRUST_PROXY). @default 500 */
  CONFIGHUB_MAX_SOCKETS_PER_ADDRESS: wholeNumber(1, 1_000_000, 500),
  /** @default 'info' */
  LOG_LEVEL: z._default(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  /** @default 'production' */
  NODE_ENV: z._default(z.string(), 'production'),
});

export type Settings = z.infer<typeof settingsSchema>;

export class SettingsError extends StartupError {
  override name = 'SettingsError';
}

/** Reads and checks the settings; a bad value stops the start with a message naming the variable. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = z.safeParse(settingsSchema, env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(`invalid settings: ${problems.join('; ')}`);
  }
  return parsed.data;
}
