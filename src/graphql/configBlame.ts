import type { ConfigBlame, SettingBlame } from '../store/blame.ts';
import { configKey } from '../store/names.ts';
import { builder } from './builder.ts';
import { ConfigActionRef } from './configChange.ts';
import { readErrors } from './errors.ts';
import { configKeyArgs } from './serviceConfig.ts';

const SettingBlameRef = builder.objectRef<SettingBlame>('SettingBlame').implement({
  description: 'The change that last set one setting (a leaf of the config: a value that is not an object).',
  fields: (t) => ({
    pointer: t.exposeString('pointer', { description: 'The setting, as a JSON pointer (`/operational/batch_size`).' }),
    value: t.field({ type: 'JSON', nullable: true, description: 'Its value now.', resolve: (blame) => blame.value }),
    version: t.exposeInt('version', { description: 'The version whose change set it.' }),
    action: t.expose('action', { type: ConfigActionRef }),
    changedBy: t.exposeString('changedBy'),
    changedAt: t.expose('changedAt', { type: 'DateTime' }),
    reason: t.exposeString('reason', { nullable: true }),
  }),
});

const ConfigBlameRef = builder.objectRef<ConfigBlame>('ConfigBlame').implement({
  description: 'Who last set each setting of a config, when and why, from its audit log.',
  fields: (t) => ({
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    version: t.exposeInt('version', { description: 'The version blamed (the current one).' }),
    settings: t.field({ type: [SettingBlameRef], description: 'Every setting, in document order.', resolve: (blame) => blame.settings }),
    complete: t.exposeBoolean('complete', {
      description: 'False when the audit log was too long to read whole (64 MiB of documents): the settings older than what was read are left out.',
    }),
  }),
});

builder.queryField('configBlame', (t) =>
  t.field({
    type: ConfigBlameRef,
    nullable: true,
    description: 'For every setting of a config, the change that last set it: version, actor, time and reason.',
    args: configKeyArgs,
    authScopes: (_root, args) => ({ read: args }),
    errors: { types: readErrors },
    resolve: (_root, args, ctx) => ctx.store.blame.blame(configKey(args.service, args.environment)),
  }),
);
