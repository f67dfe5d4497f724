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

type HistorySelection = Parameters<ConfigStore['history']['latestChanges']>[2];

/** Per request, one loader per page size and selection: the first page of history of every config the request shows. */
const latestChangesLoader = createContextCache((ctx: Context) => {
  const loaders = new Map<string, DataLoader<ConfigKey, ConfigChange[]>>();
  return (take: number, selection: HistorySelection) => {
    const shape = JSON.stringify([take, selection]);
    let loader = loaders.get(shape);
    if (!loader) {
      // Batching only: a mutation's result must show the history its own write made.
      loader = new DataLoader((keys) => ctx.store.history.latestChanges(keys, take, selection), { cache: false });
      loaders.set(shape, loader);
    }
    return loader;
  };
});

/** The arguments that name a config (its environment defaults to production). */
export const configKeyArgs = builder.args((t) => ({
  service: t.string({ required: true }),
  environment: t.string({ defaultValue: 'production' }),
}));

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
        return latestChangesLoader(ctx)(take, selection as HistorySelection).load(key);
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
      ...configKeyArgs,
      instance: t.arg.string({
        description: 'The id of the instance asking (as in its fleet reports): while a rollout is under way, it decides whether the candidate or the stable version is served.',
      }),
    },
    authScopes: (_root, args) => ({ read: args }),
    errors: { types: readErrors },
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
