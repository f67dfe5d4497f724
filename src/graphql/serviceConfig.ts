import { GraphQLError } from 'graphql';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { ConfigChange } from '../store/history.ts';
import type { ConfigStore } from '../store/configStore.ts';
import type { ConfigKey } from '../store/names.ts';
import { builder } from './builder.ts';
import { withCursorOf } from './cursors.ts';
import { visibleScope } from '../access/principal.ts';
import type { Context } from './context.ts';
import { readErrors } from './errors.ts';

interface LatestChangesRequest {
  key: ConfigKey;
  take: number;
  selection: Parameters<ConfigStore['history']['latestChanges']>[2];
}

/** Per request: the first page of history of every config the request shows, batched by page size and selection. */
const latestChangesLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<LatestChangesRequest, ConfigChange[], string>(
      async (requests) => {
        const groups = new Map<string, LatestChangesRequest[]>();
        for (const request of requests) {
          const group = JSON.stringify([request.take, request.selection]);
          const members = groups.get(group);
          if (members) members.push(request);
          else groups.set(group, [request]);
        }
        const pages = new Map<LatestChangesRequest, ConfigChange[]>();
        for (const group of groups.values()) {
          const { take, selection } = group[0]!;
          const found = await ctx.store.history.latestChanges(group.map((request) => request.key), take, selection);
          group.forEach((request, index) => pages.set(request, found[index]!));
        }
        return requests.map((request) => pages.get(request)!);
      },
      // Batching only: a mutation's result must show the history its own write made.
      { cache: false },
    ),
);

export const ServiceConfigRef = builder.prismaNode('ServiceConfig', {
  description: 'The configuration of one service in one environment.',
  id: { field: 'id' },
  // A global id whose key is not a row id (base64 of `ServiceConfig:x`) is the caller's mistake, not a fault.
  findUnique: (id) => {
    if (!/^[1-9]\d{0,9}$/.test(String(id)) || Number(id) > 2_147_483_647) {
      throw new GraphQLError(`Invalid global ID: no ServiceConfig has the id ${JSON.stringify(String(id).slice(0, 40))}`);
    }
    return { id: Number(id) };
  },
  // node(id) and nodes(ids) answer null for an id no config has (not an internal error).
  nullable: true,
  // Checked however the config is reached (config, configs, a write's result), by each field's resolver
  // (once per config and request: Pothos caches the verdict); node and nodes check it before they answer
  // (builder.ts), since __typename passes no resolver.
  authScopes: (row) => ({ read: { service: row.serviceName, environment: row.environment } }),
  fields: (t) => ({
    service: t.exposeString('serviceName'),
    environment: t.exposeString('environment'),
    config: t.field({ type: 'JSONObject', resolve: (row) => row.config as object }),
    version: t.exposeInt('version', { description: 'Rises by exactly 1 on every change.' }),
    description: t.exposeString('description', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    updatedBy: t.exposeString('updatedBy'),
    deletedAt: t.expose('deletedAt', { type: 'DateTime', nullable: true, description: 'Set while soft-deleted.' }),
    history: t.prismaConnection({
      type: 'ConfigChange',
      cursor: 'revision',
      nullable: true,
      description: 'The changes of this config, newest first (null, with an error, when the page asked for is refused).',
      resolve: (query, row, _args, ctx) => {
        const key = { service: row.serviceName, environment: row.environment };
        // The first page (the common case, e.g. under a listing of configs) is loaded for all configs of
        // the request at once; later pages (a cursor) are read one config at a time.
        const { take, skip, cursor, ...selection } = withCursorOf(query, 'revision', ['bigint', 'number']);
        if (cursor || skip || take === undefined || take <= 0) return ctx.store.history.listChanges(key, query);
        return latestChangesLoader(ctx).load({ key, take, selection: selection as LatestChangesRequest['selection'] });
      },
    }, { name: 'ServiceConfigHistoryConnection' }, { name: 'ServiceConfigHistoryEdge' }),
    atVersion: t.prismaField({
      type: 'ConfigChange',
      nullable: true,
      description: 'The change that produced a version: its newConfig is the content at that version.',
      args: { version: t.arg.int({ required: true }) },
      resolve: (_query, row, args, ctx) =>
        ctx.store.history.findChange({ service: row.serviceName, environment: row.environment }, args.version),
    }),
  }),
});

builder.queryFields((t) => ({
  config: t.field({
    type: ServiceConfigRef,
    nullable: true,
    description: 'The live config of a service; deleted configs are not found.',
    args: {
      service: t.arg.string({ required: true }),
      environment: t.arg.string({ defaultValue: 'production' }),
      instance: t.arg.string({
        description: 'The id of the instance asking (as in its fleet reports): while a rollout is under way, it decides whether the candidate or the stable version is served.',
      }),
    },
    authScopes: (_root, args) => ({ read: args }),
    errors: { types: readErrors, directResult: true, union: { name: 'ConfigResult' } },
    resolve: (_root, args, ctx) => ctx.store.getConfig(args.service, args.environment, ctx.reads, args.instance),
  }),
  configs: t.prismaConnection({
    type: 'ServiceConfig',
    cursor: 'id',
    nullable: true,
    args: {
      environment: t.arg.string({ description: 'Only this environment.' }),
      nameContains: t.arg.string({ description: 'Only services whose name contains this.' }),
      includeDeleted: t.arg.boolean({ defaultValue: false }),
    },
    authScopes: { signedIn: true },
    description: 'All configs the caller may read, oldest first.',
    resolve: async (query, _root, args, ctx) => ctx.store.listConfigs({ ...args, ...(await visibleTo(ctx)) }, withCursorOf(query, 'id', ['number'])),
    totalCount: async (_root, args, ctx) => ctx.store.countConfigs({ ...args, ...(await visibleTo(ctx)) }),
  }, { name: 'ServiceConfigConnection' }, { name: 'ServiceConfigEdge' }),
}));

/** The services and environments the caller may see, as a listing filter. */
export const visibleTo = (ctx: Context) => visibleScope(ctx.viewer!, () => ctx.store.serviceNames());
