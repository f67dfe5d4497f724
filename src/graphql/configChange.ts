import { changePatch } from '../store/history.ts';
import { configKey, keyString, parseKeyString } from '../store/names.ts';
import type { PatchOperation } from '../store/documents.ts';
import { type PatchText, patchLength } from '../store/patchText.ts';
import { builder } from './builder.ts';
import { withCursorOf } from './cursors.ts';
import { readErrors } from './errors.ts';
import { JsonPatchOperationRef, patchPage, patchPageArgs } from './scalars.ts';
import { ServiceConfigRef, configKeyArgs } from './serviceConfig.ts';

export const ConfigActionRef = builder.enumType('ConfigAction', {
  values: ['CREATE', 'UPDATE', 'ROLLBACK', 'DELETE', 'RESTORE'] as const,
});

builder.prismaObject('ConfigChange', {
  description: 'One change of a config, as recorded in the audit log (by a trigger, whoever made it).',
  // The documents are read only when a field asks for them: a history of who changed what, when and why
  // stays small however large the configs.
  select: { revision: true, configId: true, serviceName: true, environment: true, version: true, action: true, changedBy: true, reason: true, changedAt: true },
  fields: (t) => ({
    revision: t.field({ type: 'SafeInt', description: 'Global change number.', resolve: (change) => Number(change.revision) }),
    service: t.exposeString('serviceName'),
    environment: t.exposeString('environment'),
    version: t.exposeInt('version', { description: 'The version this change produced.' }),
    action: t.expose('action', { type: ConfigActionRef }),
    oldConfig: t.field({ type: 'JSONObject', nullable: true, select: { oldConfig: true }, resolve: (change) => change.oldConfig as object | null }),
    newConfig: t.field({ type: 'JSONObject', nullable: true, select: { newConfig: true }, resolve: (change) => change.newConfig as object | null }),
    changedBy: t.exposeString('changedBy'),
    reason: t.exposeString('reason', { nullable: true }),
    changedAt: t.expose('changedAt', { type: 'DateTime' }),
    patch: t.field({
      type: [JsonPatchOperationRef],
      nullable: true,
      description: 'The RFC 6902 operations this change made, from oldConfig to newConfig (null, with an error, when the page is refused).',
      args: patchPageArgs,
      select: { oldConfig: true, newConfig: true },
      resolve: (change, args) => patchPage(changePatch(change), args),
    }),
    patchOperationCount: t.int({
      description: 'How many operations the whole patch has.',
      select: { oldConfig: true, newConfig: true },
      resolve: (change) => changePatch(change).length,
    }),
    config: t.loadable({
      type: ServiceConfigRef,
      nullable: true,
      description: 'The config as it is now (null if it was removed from the database).',
      load: (keys: string[], ctx) => ctx.store.findConfigs(keys.map(parseKeyString)),
      resolve: (change) => keyString({ service: change.serviceName, environment: change.environment }),
    }),
  }),
});

const ConfigDiffRef = builder
  .objectRef<{ service: string; environment: string; fromVersion: number; toVersion: number; operations: PatchOperation[] | PatchText }>('ConfigDiff')
  .implement({
    description: 'What turns the content at one version into the content at another.',
    fields: (t) => ({
      service: t.exposeString('service'),
      environment: t.exposeString('environment'),
      fromVersion: t.exposeInt('fromVersion'),
      toVersion: t.exposeInt('toVersion'),
      operations: t.field({
        type: [JsonPatchOperationRef],
        description: 'RFC 6902 operations.',
        args: patchPageArgs,
        resolve: (diff, args) => patchPage(diff.operations, args),
      }),
      operationCount: t.int({ description: 'How many operations the whole diff has.', resolve: (diff) => patchLength(diff.operations) }),
    }),
  });

builder.queryFields((t) => ({
  configHistory: t.prismaConnection({
    type: 'ConfigChange',
    cursor: 'revision',
    nullable: true,
    description: 'The changes of a config, newest first (deleted configs keep their history).',
    args: configKeyArgs,
    authScopes: (_root, args) => ({ read: args }),
    resolve: (query, _root, args, ctx) => ctx.store.history.listChanges(configKey(args.service, args.environment), withCursorOf(query, 'revision', ['bigint', 'number'])),
  }, { name: 'ConfigHistoryConnection' }, { name: 'ConfigHistoryEdge' }),
  configVersion: t.prismaField({
    type: 'ConfigChange',
    nullable: true,
    description: 'The change that produced a version: its newConfig is the content at that version.',
    args: { ...configKeyArgs, version: t.arg.int({ required: true }) },
    authScopes: (_root, args) => ({ read: args }),
    errors: { types: readErrors },
    resolve: (_query, _root, args, ctx) => ctx.store.history.getChange(configKey(args.service, args.environment), args.version),
  }),
  configDiff: t.field({
    type: ConfigDiffRef,
    nullable: true,
    description: 'The RFC 6902 operations from the content at fromVersion to the content at toVersion.',
    args: { ...configKeyArgs, fromVersion: t.arg.int({ required: true }), toVersion: t.arg.int({ required: true }) },
    authScopes: (_root, args) => ({ read: args }),
    errors: { types: readErrors },
    resolve: async (_root, args, ctx) => {
      const key = configKey(args.service, args.environment);
      const operations = await ctx.store.history.diffVersions(key, args.fromVersion, args.toVersion);
      return { ...key, fromVersion: args.fromVersion, toVersion: args.toVersion, operations };
    },
  }),
}));
