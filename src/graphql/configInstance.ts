import { SecretRejectedError } from '../store/errors.ts';
import { keyString, parseKeyString } from '../store/names.ts';
import { builder } from './builder.ts';
import { readErrors } from './errors.ts';
import { ServiceConfigRef } from './serviceConfig.ts';

// The fleet report: instances of a service report the version they applied (or refused), and each
// config lists its instances, so an operator sees a change land across the fleet.

const ConfigInstanceStatusRef = builder.enumType('ConfigInstanceStatus', {
  description: "An instance's view of its config.",
  values: {
    READY: { description: 'It runs the version it fetched from the hub and follows changes.' },
    STALE: { description: 'It runs a cached or snapshot version: the hub or its change feed is out of reach.' },
    ERROR: { description: 'It runs on its compiled-in defaults only.' },
  } as const,
});

const ConfigInstanceRef = builder.prismaObject('ConfigInstance', {
  description: 'What one running instance of a service last reported about its config.',
  fields: (t) => ({
    service: t.exposeString('serviceName'),
    environment: t.exposeString('environment'),
    instance: t.exposeString('instanceId', { description: 'The id the instance chose (e.g. hostname and pid).' }),
    status: t.expose('status', { type: ConfigInstanceStatusRef }),
    appliedVersion: t.exposeInt('appliedVersion', { nullable: true, description: 'The version it runs; null on defaults only.' }),
    rejectedVersion: t.exposeInt('rejectedVersion', { nullable: true, description: 'The last version it refused.' }),
    error: t.exposeString('error', { nullable: true, description: 'Why it refused that version, or cannot reach its config.' }),
    firstSeenAt: t.expose('firstSeenAt', { type: 'DateTime' }),
    reportedAt: t.expose('reportedAt', { type: 'DateTime', description: 'When it last reported.' }),
  }),
});

builder.objectField(ServiceConfigRef, 'instances', (t) =>
  t.loadableList({
    type: ConfigInstanceRef,
    description: 'The instances running this config, most recently reported first.',
    load: (keys: string[], ctx) => ctx.store.instances.ofConfigs(keys.map(parseKeyString)),
    resolve: (row) => keyString({ service: row.serviceName, environment: row.environment }),
  }),
);

const ReportInstanceInput = builder.inputType('ReportInstanceInput', {
  fields: (t) => ({
    service: t.string({ required: true }),
    environment: t.string({ defaultValue: 'production' }),
    instance: t.string({ required: true, description: 'A stable id of the reporting instance (e.g. hostname and pid).' }),
    status: t.field({ type: ConfigInstanceStatusRef, required: true }),
    appliedVersion: t.int({ description: 'The version it runs; omit while it runs on defaults only.' }),
    rejectedVersion: t.int({ description: 'The last version it refused.' }),
    error: t.string({ description: 'Why it refused that version, or cannot reach its config.' }),
  }),
});

builder.mutationField('reportInstance', (t) =>
  t.prismaField({
    type: 'ConfigInstance',
    description: "Records what an instance runs (upserted per instance; not audited). The config must exist.",
    args: { input: t.arg({ type: ReportInstanceInput, required: true }) },
    // A service's own token (a reader scoped to it) reports what it applied.
    authScopes: (_root, { input }) => ({ read: input }),
    errors: { types: [...readErrors, SecretRejectedError] },
    resolve: async (_query, _root, { input }, ctx) => {
      await ctx.store.getConfig(input.service, input.environment);
      return ctx.store.instances.report(input);
    },
  }),
);
