import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type PrismaTypes from '../generated/pothos-types.ts';
import { getDatamodel } from '../generated/pothos-types.ts';
import type { JsonObject } from '../store/documents.ts';
import { type AuthScopes, authScopesOf, unauthorizedError } from './authScopes.ts';
import type { Context } from './context.ts';

export const builder = new SchemaBuilder<{
  PrismaTypes: PrismaTypes;
  Context: Context;
  AuthScopes: AuthScopes;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: false;
  Scalars: {
    JSON: { Input: unknown; Output: unknown };
    JSONObject: { Input: JsonObject; Output: object };
    DateTime: { Input: Date; Output: Date };
    SafeInt: { Input: number; Output: number };
  };
}>({
  // Errors first: it wraps the others, so refusals of scope-auth become typed results where a field lists them.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, PrismaPlugin, RelayPlugin, DataloaderPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: authScopesOf,
    unauthorizedError: (_parent, ctx, _info, result) => unauthorizedError(ctx, result.failure),
  },
  defaultFieldNullability: false,
  errors: {
    defaultTypes: [],
    // A field's expected failures and its result make one union named after the field: `config` answers a `ConfigResult`.
    directResult: true,
    defaultUnionOptions: { name: ({ fieldName }) => `${fieldName[0]!.toUpperCase()}${fieldName.slice(1)}Result` },
  },
  prisma: {
    client: (ctx) => ctx.store.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // node and nodes reach any object by id, past the fields that check who may reach it: a config is
    // checked here too (its type's scopes run in its fields' resolvers, which __typename does not pass).
    nodeQueryOptions: {
      resolve: async (_root, { id }, ctx, _info, resolveNode) => mayBeShown(ctx, id.typename, await resolveNode(id)),
    },
    nodesQueryOptions: {
      nullable: { list: true, items: true },
      resolve: async (_root, { ids }, ctx, _info, resolveNodes) => {
        const nodes = await resolveNodes(ids);
        return nodes.map((node, index) => mayBeShown(ctx, ids[index]!.typename, node));
      },
    },
  },
});

/** The node, once the caller may read it; a refusal (FORBIDDEN, UNAUTHENTICATED) otherwise. */
async function mayBeShown(ctx: Context, typename: string, node: unknown): Promise<unknown> {
  if (typename === 'ServiceConfig' && node) {
    const { serviceName: service, environment } = node as { serviceName: string; environment: string };
    await builder.runAuthScopes(ctx, { read: { service, environment } }, (result) => unauthorizedError(ctx, result.failure));
  }
  return node;
}
