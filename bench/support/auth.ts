/**
 * The admin token the benchmark's gateway is started with (CONFIGHUB_ADMIN_TOKEN). Every target gets
 * the same Authorization header, so the baselines carry the same bytes; only the gateway checks it.
 */
export const BENCH_ADMIN_TOKEN = 'chub_benchmark-admin-token-not-for-production';
export const benchAuth = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } as const;
