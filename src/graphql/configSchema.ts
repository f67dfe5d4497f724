import type { ConfigField } from '../store/configSchemas.ts';
import { schemaFields } from '../store/configSchemas.ts';
import type { JsonObject } from '../store/documents.ts';
import { configKey } from '../store/names.ts';
import { GraphQLError } from 'graphql';
import { coversService } from '../access/principal.ts';
import { builder } from './builder.ts';
import { writeErrors } from './errors.ts';
import { ServiceConfigRef } from './serviceConfig.ts';

const ConfigFieldRef = builder.objectRef<ConfigField>('ConfigField').implement({
  description: "One setting a service's schema documents.",
  fields: (t) => ({
    pointer: t.exposeString('pointer', { description: 'JSON pointer of the setting (`*` stands for any array index).' }),
    type: t.exposeString('type', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    default: t.field({ type: 'JSON', nullable: true, resolve: (field) => field.default }),
    notSecret: t.exposeBoolean('notSecret', { description: 'Marked x-confighub-not-secret: the secret guard lets it through.' }),
    required: t.exposeBoolean('required', { description: "Listed in its parent object's `required`." }),
    minimum: t.exposeFloat('minimum', { nullable: true }),
    maximum: t.exposeFloat('maximum', { nullable: true }),
    exclusiveMinimum: t.exposeFloat('exclusiveMinimum', { nullable: true }),
    exclusiveMaximum: t.exposeFloat('exclusiveMaximum', { nullable: true }),
    allowed: t.field({ type: ['JSON'], nullable: true, description: 'The values the schema allows (its `enum`); null: any.', resolve: (field) => field.allowed }),
  }),
});

const ConfigSchemaRef = builder.prismaObject('ConfigSchema', {
  description: "A version of a service's JSON Schema (draft 2020-12); the newest applies to every write.",
  fields: (t) => ({
    service: t.exposeString('serviceName'),
    version: t.exposeInt('version'),
    schema: t.field({ type: 'JSONObject', resolve: (row) => row.schema as object }),
    fields: t.field({
      type: [ConfigFieldRef],
      description: 'The settings it documents, with their descriptions and defaults.',
      resolve: (row) => schemaFields(row.schema as JsonObject),
    }),
    createdBy: t.exposeString('createdBy'),
    reason: t.exposeString('reason', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.objectField(ServiceConfigRef, 'schema', (t) =>
  t.field({
    type: ConfigSchemaRef,
    nullable: true,
    description: "The service's newest schema (null when it has none).",
    resolve: (row, _args, ctx) => ctx.store.schemas.schemaOf(row.serviceName),
  }),
);

builder.queryFields((t) => ({
  configSchema: t.field({
    type: ConfigSchemaRef,
    nullable: true,
    description: "A service's newest schema, or a given version of it.",
    args: { service: t.arg.string({ required: true }), version: t.arg.int() },
    // Reading a schema: any token that may read the service in some environment.
    authScopes: (_root, args) => ({ readService: args.service }),
    resolve: async (_root, args, ctx) => {
      const { service } = configKey(args.service);
      if (args.version == null) return ctx.store.schemas.schemaOf(service);
      return (await ctx.store.schemas.versions(service)).find((row) => row.version === args.version) ?? null;
    },
  }),
  configCatalog: t.field({
    type: [ConfigSchemaRef],
    description:
      "The catalog of services: each service's newest schema with the settings it documents (descriptions, types, bounds, defaults), of the services the token may read (of `services` only, when given).",
    args: { services: t.arg.stringList({ description: 'At most 100 names; omitted: every service.' }) },
    authScopes: { signedIn: true },
    resolve: async (_root, args, ctx) => {
      if (args.services && args.services.length > MAX_CATALOG_NAMES) {
        throw new GraphQLError(`services: at most ${MAX_CATALOG_NAMES} names, not ${args.services.length}`);
      }
      const names = args.services?.map((service) => configKey(service).service);
      const rows = await ctx.store.schemas.newestOfEach(names);
      return rows.filter((row) => ctx.viewer !== null && coversService(ctx.viewer, row.serviceName));
    },
  }),
}));

/** The most services one catalog request may name. */
const MAX_CATALOG_NAMES = 100;

const SetConfigSchemaInput = builder.inputType('SetConfigSchemaInput', {
  fields: (t) => ({
    service: t.string({ required: true }),
    schema: t.field({ type: 'JSON', required: true, description: 'A JSON Schema (draft 2020-12) for every environment of the service.' }),
    expectedVersion: t.int({ description: 'Refuse unless the newest schema version is this (0: none yet).' }),
    reason: t.string(),
  }),
});

builder.mutationField('setConfigSchema', (t) =>
  t.field({
    type: ConfigSchemaRef,
    description: "Adds a version of a service's schema; refused with every violation if a live config breaks it.",
    args: { input: t.arg({ type: SetConfigSchemaInput, required: true }) },
    authScopes: (_root, { input }) => ({ manageSchema: input.service }),
    errors: { types: writeErrors },
    resolve: (_root, { input }, ctx) => ctx.store.setConfigSchema(input, { actor: ctx.actor, reason: input.reason }),
  }),
);
