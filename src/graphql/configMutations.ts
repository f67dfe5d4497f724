import type { ConfigWrite } from '../store/configStore.ts';
import { AlreadyExistsError } from '../store/errors.ts';
import { patchLength } from '../store/patchText.ts';
import { builder } from './builder.ts';
import { writeErrors } from './errors.ts';
import { JsonPatchOperationRef, patchPage, patchPageArgs } from './scalars.ts';
import { ConfigOverrideRef } from './configOverride.ts';
import { ChangeRequestRef } from './changeRequest.ts';
import { RolloutInput, RolloutRef } from './rollout.ts';
import { mayBreakGlass } from '../access/principal.ts';
import type { Context } from './context.ts';
import { ServiceConfigRef } from './serviceConfig.ts';

const ConfigWriteRef = builder.objectRef<ConfigWrite>('ConfigWrite').implement({
  description: 'A write: the config as it is now (or would be, on a dry run) and what changed.',
  fields: (t) => ({
    config: t.field({ type: ServiceConfigRef, resolve: (write) => write.config }),
    previousVersion: t.exposeInt('previousVersion', { description: 'The version before the change (0 for a new config).' }),
    diff: t.field({
      type: [JsonPatchOperationRef],
      description: 'RFC 6902 operations from the previous content.',
      args: patchPageArgs,
      resolve: async (write, args) => patchPage(await write.diff(), args),
    }),
    diffOperationCount: t.int({ description: 'How many operations the whole diff has.', resolve: async (write) => patchLength(await write.diff()) }),
    dryRun: t.exposeBoolean('dryRun', { description: 'True when nothing was written.' }),
    changed: t.exposeBoolean('changed', { description: 'False when the write would change nothing (then nothing is written).' }),
    request: t.field({
      type: ChangeRequestRef,
      nullable: true,
      description: 'In a protected environment: nothing was written (changed is false); this request holds the change until it is approved.',
      resolve: (write) => write.request ?? null,
    }),
    rollout: t.field({
      type: RolloutRef,
      nullable: true,
      description: 'The rollout this write began (an update with a rollout that changed something).',
      resolve: (write) => write.rollout ?? null,
    }),
    override: t.field({
      type: ConfigOverrideRef,
      nullable: true,
      description: 'The override this write opened (an update with expiresIn or expiresAt that changed something).',
      resolve: (write) => write.override ?? null,
    }),
    change: t.prismaField({
      type: 'ConfigChange',
      nullable: true,
      description: 'The audit row of this write (null on a dry run or when nothing changed).',
      resolve: (_query, write, _args, ctx) =>
        write.dryRun || !write.changed
          ? null
          : ctx.store.history.findChange({ service: write.config.serviceName, environment: write.config.environment }, write.config.version),
    }),
  }),
});

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** The fields every write names: which config, why, and whether to break glass. */
const writeTarget = (t: PothosSchemaTypes.InputFieldBuilder<Types, 'InputObject'>, reason?: string) => ({
  service: t.string({ required: true }),
  environment: t.string({ defaultValue: 'production' }),
  reason: t.string({ description: reason }),
  breakGlass: t.boolean({ description: 'In a protected environment: write at once, without approvals (an admin, with a reason; audited as such).' }),
});
const WHY = 'Why; kept in the audit log.';

const CreateConfigInput = builder.inputType('CreateConfigInput', {
  fields: (t) => ({
    ...writeTarget(t, WHY),
    config: t.field({ type: 'JSON', required: true, description: 'The document: a JSON object.' }),
    description: t.string(),
  }),
});

const UpdateConfigInput = builder.inputType('UpdateConfigInput', {
  fields: (t) => ({
    ...writeTarget(t, WHY),
    patch: t.field({ type: 'JSON', description: 'An RFC 7396 merge patch (null deletes a key). Give this or config.' }),
    config: t.field({ type: 'JSON', description: 'The whole new document. Give this or patch.' }),
    description: t.string(),
    expectedVersion: t.int({ description: 'Refuse the change unless the config is at this version.' }),
    dryRun: t.boolean({ defaultValue: false, description: 'Validate and return the diff; write nothing.' }),
    expiresIn: t.string({
      description: 'Makes the change a temporary override, reverted by the hub this long after it is written: `90m`, `2h`, `3d` (1 second to 90 days).',
    }),
    expiresAt: t.field({ type: 'DateTime', description: 'Makes the change a temporary override, reverted by the hub at this time.' }),
    requestExpiresIn: t.string({ description: 'In a protected environment: how long the change request stays open (`2h`, `3d`; 7 days when not given, at most 30).' }),
    rollout: t.field({
      type: RolloutInput,
      description: 'Serve the new version in steps (a share of the instances at a time), rolled back on its own when an instance refuses it.',
    }),
  }),
});

const RollbackConfigInput = builder.inputType('RollbackConfigInput', {
  fields: (t) => ({
    ...writeTarget(t),
    toVersion: t.int({ required: true, description: 'The version whose content to restore, as a new version.' }),
    expectedVersion: t.int({ description: 'Refuse the rollback unless the config is at this version.' }),
    dryRun: t.boolean({ defaultValue: false }),
    requestExpiresIn: t.string({ description: 'In a protected environment: how long the change request stays open.' }),
  }),
});

const LifecycleInput = builder.inputType('ConfigLifecycleInput', {
  fields: (t) => ({ ...writeTarget(t), expectedVersion: t.int() }),
});

/** The author of a write: the caller, with its reason, and whether it may break glass on this config. */
const authorOf = (ctx: Context, input: { service: string; environment?: string | null; reason?: string | null }) => ({
  actor: ctx.actor,
  reason: input.reason,
  mayBreakGlass: ctx.viewer !== null && mayBreakGlass(ctx.viewer, { service: input.service, environment: input.environment ?? 'production' }),
});

builder.mutationFields((t) => ({
  createConfig: t.field({
    type: ConfigWriteRef,
    args: { input: t.arg({ type: CreateConfigInput, required: true }) },
    authScopes: (_root, { input }) => ({ write: input }),
    errors: { types: [...writeErrors, AlreadyExistsError] },
    resolve: (_root, { input }, ctx) => ctx.store.createConfig(input, authorOf(ctx, input)),
  }),
  updateConfig: t.field({
    type: ConfigWriteRef,
    description: 'Merge-patches or replaces a config; a new version, audited.',
    args: { input: t.arg({ type: UpdateConfigInput, required: true }) },
    authScopes: (_root, { input }) => ({ write: input }),
    errors: { types: writeErrors },
    resolve: (_root, { input }, ctx) => ctx.store.updateConfig(input, authorOf(ctx, input)),
  }),
  rollbackConfig: t.field({
    type: ConfigWriteRef,
    description: 'Writes a new version whose content equals an earlier one (history is never rewritten).',
    args: { input: t.arg({ type: RollbackConfigInput, required: true }) },
    authScopes: (_root, { input }) => ({ write: input }),
    errors: { types: writeErrors },
    resolve: (_root, { input }, ctx) => ctx.store.rollbackConfig(input, authorOf(ctx, input)),
  }),
  deleteConfig: t.field({
    type: ConfigWriteRef,
    description: 'Soft-deletes a config: audited, restorable with restoreConfig or rollbackConfig.',
    args: { input: t.arg({ type: LifecycleInput, required: true }) },
    authScopes: (_root, { input }) => ({ write: input }),
    errors: { types: writeErrors },
    resolve: (_root, { input }, ctx) => ctx.store.deleteConfig(input, authorOf(ctx, input)),
  }),
  restoreConfig: t.field({
    type: ConfigWriteRef,
    description: 'Brings back a soft-deleted config with the content it had.',
    args: { input: t.arg({ type: LifecycleInput, required: true }) },
    authScopes: (_root, { input }) => ({ write: input }),
    errors: { types: writeErrors },
    resolve: (_root, { input }, ctx) => ctx.store.restoreConfig(input, authorOf(ctx, input)),
  }),
}));
