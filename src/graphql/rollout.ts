import { GraphQLError } from 'graphql';
import { ForbiddenError, configAction } from '../access/errors.ts';
import { mayRead, mayWrite } from '../access/principal.ts';
import { untilTokenEnds } from '../access/sessions.ts';
import { RolloutError, SecretRejectedError, ValidationError } from '../store/errors.ts';
import { type ConfigKey, configKey } from '../store/names.ts';
import { type Rollout, type RolloutEvent, inStep, instanceBucket, rolloutPercent } from '../store/rollouts.ts';
import type { ConfigInstance } from '../generated/prisma/client.ts';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { accessErrors } from './errors.ts';
import { ServiceConfigRef, configKeyArgs } from './serviceConfig.ts';

const RolloutStateRef = builder.enumType('RolloutState', {
  values: {
    ACTIVE: { value: 'active', description: 'Under way: the instances of the current step are served the candidate.' },
    ROLLING_BACK: { value: 'rolling_back', description: 'A gateway is writing the stable version back.' },
    COMPLETED: { value: 'completed', description: 'Every step passed: the candidate is served to every instance.' },
    ROLLED_BACK: { value: 'rolled_back', description: 'The hub wrote the stable version back (an instance refused the candidate, or errors passed the threshold).' },
    ABORTED: { value: 'aborted', description: 'Ended by hand (abortRollout): the stable version was written back.' },
    SUPERSEDED: { value: 'superseded', description: 'The config changed otherwise (a later version, a deletion) while it was under way.' },
  } as const,
});

const RolloutEventKindRef = builder.enumType('RolloutEventKind', {
  values: {
    STARTED: { value: 'started' },
    ADVANCED: { value: 'advanced', description: 'A step baked without failures: the next one began.' },
    PROMOTED: { value: 'promoted', description: 'Moved on by hand.' },
    COMPLETED: { value: 'completed' },
    ROLLED_BACK: { value: 'rolled_back' },
    ABORTED: { value: 'aborted' },
    SUPERSEDED: { value: 'superseded' },
  } as const,
});

const RolloutEventRef = builder.objectRef<RolloutEvent>('RolloutEvent').implement({
  description: 'Something that happened to a rollout (never changed afterwards).',
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime' }),
    actor: t.exposeString('actor', { description: '"rollout" when the hub acted on its own.' }),
    kind: t.field({ type: RolloutEventKindRef, resolve: (event) => event.kind }),
    percent: t.exposeInt('percent', { description: 'The share of instances served the candidate after it.' }),
    detail: t.exposeString('detail', { nullable: true }),
  }),
});

interface RolloutInstance {
  rollout: Rollout;
  row: ConfigInstance;
}

const RolloutInstanceRef = builder.objectRef<RolloutInstance>('RolloutInstance').implement({
  description: 'An instance of the service, as the rollout sees it: whether it is served the candidate, and what it reports.',
  fields: (t) => ({
    instance: t.string({ resolve: ({ row }) => row.instanceId }),
    bucket: t.int({ description: 'Where the instance falls (0..9999); a step of p% serves buckets below p×100.', resolve: ({ rollout, row }) => instanceBucket(rollout, row.instanceId) }),
    inStep: t.boolean({ description: 'Served the candidate now.', resolve: ({ rollout, row }) => inStep(rollout, row.instanceId) }),
    servedVersion: t.int({ resolve: ({ rollout, row }) => (inStep(rollout, row.instanceId) ? rollout.candidateVersion : rollout.stableVersion) }),
    status: t.string({ resolve: ({ row }) => row.status }),
    appliedVersion: t.int({ nullable: true, resolve: ({ row }) => row.appliedVersion }),
    rejectedVersion: t.int({ nullable: true, resolve: ({ row }) => row.rejectedVersion }),
    error: t.string({ nullable: true, resolve: ({ row }) => row.error }),
    reportedAt: t.field({ type: 'DateTime', resolve: ({ row }) => row.reportedAt }),
  }),
});

export const RolloutRef = builder.objectRef<Rollout>('Rollout').implement({
  description:
    'A change served in steps: the instances of the current step get the candidate version, the others keep the stable one. A step advances when its bake time passed with no refusal and no errors past the threshold; a refusal rolls it back (an audited ROLLBACK by actor "rollout").',
  fields: (t) => ({
    id: t.exposeString('id'),
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    state: t.field({ type: RolloutStateRef, resolve: (rollout) => rollout.state }),
    stableVersion: t.exposeInt('stableVersion', { description: 'The version instances outside the step are served.' }),
    candidateVersion: t.exposeInt('candidateVersion', { description: 'The version being rolled out.' }),
    steps: t.exposeIntList('steps', { description: 'Percentages of the instances, one per step.' }),
    stepIndex: t.exposeInt('stepIndex', { description: 'The current step (0-based).' }),
    percent: t.int({ description: 'The share of instances served the candidate now.', resolve: (rollout) => rolloutPercent(rollout) }),
    bakeSeconds: t.float({ resolve: (rollout) => rollout.bakeMs / 1000 }),
    maxErrors: t.exposeInt('maxErrors', { description: 'Instances of the step that may report an error before it rolls back (a refusal always does).' }),
    stepStartedAt: t.expose('stepStartedAt', { type: 'DateTime' }),
    nextStepAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the current step has baked (null once it ended).',
      resolve: (rollout) => (rollout.state === 'active' ? new Date(rollout.stepStartedAt.getTime() + rollout.bakeMs) : null),
    }),
    createdBy: t.exposeString('createdBy'),
    reason: t.exposeString('reason', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    endedAt: t.expose('endedAt', { type: 'DateTime', nullable: true }),
    endedBy: t.exposeString('endedBy', { nullable: true }),
    rollbackVersion: t.exposeInt('rollbackVersion', { nullable: true, description: 'The version the rollback wrote.' }),
    outcome: t.exposeString('outcome', { nullable: true, description: 'Why it ended as it did.' }),
    instances: t.field({
      type: [RolloutInstanceRef],
      description: 'The instances of the service that reported, most recent first.',
      resolve: async (rollout, _args, ctx) => (await ctx.store.instances.ofConfigs([rollout]))[0]!.map((row) => ({ rollout, row })),
    }),
    events: t.field({ type: [RolloutEventRef], description: 'What happened to it, oldest first.', resolve: (rollout, _args, ctx) => ctx.store.rollouts.events(rollout.id) }),
  }),
});

builder.objectField(ServiceConfigRef, 'rollout', (t) =>
  t.field({
    type: RolloutRef,
    nullable: true,
    description: 'The rollout under way, if any.',
    resolve: async (config, _args, ctx) => {
      await ctx.store.rollouts.settled();
      return ctx.store.rollouts.underWayFor(configKey(config.serviceName, config.environment)) ?? null;
    },
  }),
);

builder.objectField(ServiceConfigRef, 'rollouts', (t) =>
  t.field({
    type: [RolloutRef],
    nullable: true,
    description: 'Its rollouts, newest first (null, with an error, when `first` is refused).',
    args: { first: t.arg.int({ defaultValue: 20, description: 'At most 100.' }) },
    resolve: (config, args, ctx) => {
      const first = args.first ?? 20;
      if (first < 1 || first > 100) throw new GraphQLError(`first must be from 1 to 100, not ${first}`);
      return ctx.store.rollouts.list(configKey(config.serviceName, config.environment), first);
    },
  }),
);

/** The rollout, if the caller may `action` its config. */
async function rolloutFor(ctx: Context, id: string, action: 'read' | 'write'): Promise<Rollout> {
  if (!/^[1-9]\d{0,17}$/.test(id)) throw ValidationError.at('/id', 'a rollout id: digits, as listed');
  const rollout = await ctx.store.rollouts.find(id);
  if (!rollout) throw new RolloutError(id, `no rollout ${id}`);
  const key: ConfigKey = rollout;
  if (!(action === 'read' ? mayRead : mayWrite)(ctx.viewer!, key)) throw new ForbiddenError(ctx.viewer!, configAction(action, key));
  return rollout;
}

const rolloutErrors = [...accessErrors, RolloutError, ValidationError];
/** A reason is checked like any text the hub keeps (size, text, the secret guard). */
const moveErrors = [...rolloutErrors, SecretRejectedError];

builder.queryFields((t) => ({
  rollout: t.field({
    type: RolloutRef,
    nullable: true,
    args: { id: t.arg.string({ required: true }) },
    authScopes: { signedIn: true },
    errors: { types: rolloutErrors },
    resolve: (_root, args, ctx) => rolloutFor(ctx, args.id, 'read'),
  }),
}));

export const RolloutInput = builder.inputType('RolloutInput', {
  description: 'Serve the change in steps instead of to every instance at once.',
  fields: (t) => ({
    steps: t.intList({ required: true, description: 'Percentages of the instances, rising (e.g. [10, 50, 100]); at most 10 steps.' }),
    bake: t.string({ required: true, description: 'How long each step runs without failures before the next: `30s`, `5m`, `1h` (1 second to 7 days).' }),
    maxErrors: t.int({ defaultValue: 0, description: 'Instances of the step that may report an error before it rolls back; a refusal of the candidate always rolls back.' }),
  }),
});

const RolloutActionInput = builder.inputType('RolloutActionInput', {
  fields: (t) => ({ id: t.string({ required: true }), reason: t.string({ description: 'Why; kept with the rollout (and in the audit log for an abort).' }) }),
});

builder.mutationFields((t) => ({
  promoteRollout: t.field({
    type: RolloutRef,
    description: 'Moves a rollout to its next step now (from the last one: completes it).',
    args: { input: t.arg({ type: RolloutActionInput, required: true }) },
    authScopes: { signedIn: true },
    errors: { types: moveErrors },
    resolve: async (_root, { input }, ctx) => {
      const rollout = await rolloutFor(ctx, input.id, 'write');
      return ctx.store.rollouts.promote(rollout.id, { actor: ctx.actor, reason: input.reason });
    },
  }),
  abortRollout: t.field({
    type: RolloutRef,
    description: 'Ends a rollout now: the stable version is written back as a new version (a ROLLBACK by the caller).',
    args: { input: t.arg({ type: RolloutActionInput, required: true }) },
    authScopes: { signedIn: true },
    errors: { types: moveErrors },
    resolve: async (_root, { input }, ctx) => {
      const rollout = await rolloutFor(ctx, input.id, 'write');
      return ctx.store.abortRollout(rollout.id, { actor: ctx.actor, reason: input.reason });
    },
  }),
}));

builder.subscriptionFields((t) => ({
  rolloutChanged: t.field({
    type: RolloutRef,
    description: 'The rollouts of one config as they begin, move a step and end.',
    args: configKeyArgs,
    authScopes: (_root, args) => ({ read: args }),
    subscribe: (_root, args, ctx) => untilTokenEnds(ctx.tokens, ctx.viewer, ctx.feed.subscribeRollouts(configKey(args.service, args.environment))),
    resolve: (rollout) => rollout,
  }),
}));
