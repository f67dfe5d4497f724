import proxyaddr from 'proxy-addr';
import { z } from 'zod';

function trustSpecIsValid(value: string): boolean {
  try {
    proxyaddr.compile(value.split(',').map((entry) => entry.trim()).filter(Boolean));
    return true;
  } catch {
    return false;
  }
}

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

/** The gateway's settings, read once from the environment (names are part of the interface contract). */
export const settingsSchema = z.object({
  /** @default 4000 */
  PORT: z.coerce.number().int().min(0).max(65_535).default(4000),
  /** @default '0.0.0.0' */
  HOST: z.string().default('0.0.0.0'),
  /** A PostgreSQL connection string; unset means the embedded PGlite database under CONFIGHUB_DATA_DIR. */
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  /** A NATS server or cluster; unset means in-process events. */
  NATS_URL: optionalString,
  /** @default './.confighub' */
  CONFIGHUB_DATA_DIR: z.string().default('./.confighub'),
  CONFIGHUB_ADMIN_TOKEN: optionalString,
  /** Proxies whose X-Forwarded-For is believed for the client address (failed-auth limits): addresses, subnets, `loopback`... */
  CONFIGHUB_TRUST_PROXY: optionalString.refine((value) => value === undefined || trustSpecIsValid(value), {
    message: 'comma-separated IP addresses, subnets (10.0.0.0/8) or loopback, linklocal, uniquelocal',
  }),
  /** @default 'info' */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** @default 'production' */
  NODE_ENV: z.string().default('production'),
});

export type Settings = z.infer<typeof settingsSchema>;

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Reads and checks the settings; a bad value stops the start with a message naming the variable. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(`invalid settings: ${problems.join('; ')}`);
  }
  return parsed.data;
}
