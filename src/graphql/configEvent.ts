import type { ConfigEvent } from '../protocol/changes.ts';
import { eventPatch } from '../events/configEvent.ts';
import { configKey } from '../store/names.ts';
import { patchLength } from '../store/patchText.ts';
import { mayRead } from '../access/principal.ts';
import { untilTokenEnds } from '../access/sessions.ts';
import { builder } from './builder.ts';
import { JsonPatchOperationRef, patchPage, patchPageArgs } from './scalars.ts';
import { configKeyArgs } from './serviceConfig.ts';

const ConfigEventRef = builder.objectRef<ConfigEvent>('ConfigChangeEvent').implement({
  description: 'A committed change, as it reaches subscribers (the same payload as on NATS config.update.<service>).',
  fields: (t) => ({
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    version: t.exposeInt('version'),
    revision: t.exposeInt('revision', { description: 'Global change number.' }),
    action: t.exposeString('action', { description: 'CREATE, UPDATE, ROLLBACK, DELETE or RESTORE.' }),
    config: t.field({ type: 'JSONObject', nullable: true, description: 'The full new document (null after a deletion).', resolve: (event) => event.config }),
    patch: t.field({
      type: [JsonPatchOperationRef],
      description: 'RFC 6902 operations from the previous version.',
      args: patchPageArgs,
      resolve: (event, args) => patchPage(eventPatch(event), args),
    }),
    patchOperationCount: t.int({ description: 'How many operations the whole patch has.', resolve: (event) => patchLength(eventPatch(event)) }),
    changedBy: t.exposeString('changedBy'),
    changedAt: t.field({ type: 'DateTime', resolve: (event) => new Date(event.changedAt) }),
    reason: t.exposeString('reason', { nullable: true }),
  }),
});

builder.subscriptionFields((t) => ({
  configChanged: t.field({
    type: ConfigEventRef,
    description:
      'Changes of one config. With afterVersion, every later version is replayed from the audit log first, then live ones follow: each once, in order.',
    args: {
      ...configKeyArgs,
      afterVersion: t.arg.int({ description: 'Resume after this version (the last one you applied).' }),
      instance: t.arg.string({
        description: 'The id of the instance subscribing: while a rollout is under way, its candidate comes only once the instance is in its step.',
      }),
    },
    authScopes: (_root, args) => ({ read: args }),
    subscribe: (_root, args, ctx) =>
      untilTokenEnds(ctx.tokens, ctx.viewer, ctx.feed.subscribe(configKey(args.service, args.environment), args.afterVersion, args.instance)),
    resolve: (event) => event,
  }),
  configsChanged: t.field({
    type: ConfigEventRef,
    description: 'Live changes of several configs: the services listed, or all of them.',
    args: {
      services: t.arg.stringList({ description: 'Only these services (all when omitted).' }),
      environment: t.arg.string({ description: 'Only this environment (all when omitted).' }),
    },
    authScopes: { signedIn: true },
    subscribe: (_root, args, ctx) => {
      const viewer = ctx.viewer!;
      const services = args.services ? new Set(args.services.map((service) => configKey(service).service)) : null;
      const environment = args.environment ? configKey('any', args.environment).environment : null;
      return untilTokenEnds(
        ctx.tokens,
        viewer,
        ctx.feed.subscribeMany(
          (event) =>
            (!services || services.has(event.service)) && (!environment || event.environment === environment) && mayRead(viewer, event),
        ),
      );
    },
    resolve: (event) => event,
  }),
}));
