import { GraphQLError } from 'graphql';

/**
 * A connection's Prisma query, once its cursor (if any) holds a value of the column's kind. Pothos
 * decodes a cursor into whatever kind it names (`GPC:I:3` a bigint, `GPC:S:x` a string): one of another
 * kind is the caller's mistake, refused here rather than failing in the database.
 */
export function withCursorOf<Query extends { cursor?: object }>(query: Query, column: string, kinds: readonly ('number' | 'bigint')[]): Query {
  if (query.cursor === undefined) return query;
  const value = (query.cursor as Record<string, unknown>)[column];
  const kind = typeof value;
  if ((kind === 'number' || kind === 'bigint') && kinds.includes(kind) && (kind === 'bigint' || Number.isSafeInteger(value))) return query;
  throw new GraphQLError(`Invalid cursor: not a cursor of this connection`);
}
