import { type ConfigOverride, changePointer } from '../store/overrides.ts';
import { configKey } from '../store/names.ts';
import { builder } from './builder.ts';
import { ServiceConfigRef } from './serviceConfig.ts';

const OverrideStateRef = builder.enumType('ConfigOverrideState', {
  values: { OPEN: { value: 'open' }, REVERTING: { value: 'reverting' }, REVERTED: { value: 'reverted' } } as const,
});

export const ConfigOverrideRef = builder.objectRef<ConfigOverride>('ConfigOverride').implement({
  description:
    'A change with an expiry (updateConfig with expiresIn or expiresAt). At expiry the hub writes the revert as a new version (actor "override"): each setting the override changed goes back, unless a later change touched it since.',
  fields: (t) => ({
    id: t.exposeString('id'),
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    version: t.exposeInt('version', { description: 'The version the override wrote.' }),
    settings: t.stringList({ description: 'The settings it changed (JSON pointers).', resolve: (override) => override.changes.map(changePointer) }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    createdBy: t.exposeString('createdBy'),
    reason: t.exposeString('reason', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    state: t.field({ type: OverrideStateRef, resolve: (override) => override.state }),
    revertedAt: t.expose('revertedAt', { type: 'DateTime', nullable: true }),
    revertedVersion: t.exposeInt('revertedVersion', { nullable: true, description: 'The version the revert wrote (null when nothing was left to revert).' }),
    outcome: t.exposeString('outcome', { nullable: true, description: 'What the revert put back, and what it left because a later change touched it.' }),
  }),
});

builder.objectField(ServiceConfigRef, 'overrides', (t) =>
  t.field({
    type: [ConfigOverrideRef],
    description: 'The overrides of this config that have not expired (or are being reverted), soonest to expire first.',
    resolve: (config, _args, ctx) => ctx.store.overrides.open(configKey(config.serviceName, config.environment)),
  }),
);
