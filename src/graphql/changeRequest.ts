import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { requireRequestAccess } from '../access/errors.ts';
import { type ChangeRequest, type ChangeReview, type ProtectedEnvironment, approvalsOf, requestId } from '../store/approvals.ts';
import { ChangeRequestError, ValidationError } from '../store/errors.ts';
import { builder } from './builder.ts';
import type { Context } from './context.ts';
import { accessErrors, writeErrors } from './errors.ts';
import { JsonPatchOperationRef, patchPage, patchPageArgs } from './scalars.ts';
import { visibleTo } from './serviceConfig.ts';

/**
 * Per request: the diffs of the change requests it shows, read together and handed out in the order
 * asked. Each is read on its own and takes its own time (a large one on a worker thread); handed out
 * together, the answer's budget of patch operations (answerBudget.ts) is spent in list order, not in
 * the order the reads happened to end.
 */
const requestDiffLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<ChangeRequest, Awaited<ReturnType<Context['store']['requestDiff']>>>(
      (requests) => Promise.all(requests.map((request) => ctx.store.requestDiff(request).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))))),
      // Batching only: a request reviewed (and rebased) by a mutation shows its diff as it is then.
      { cache: false },
    ),
);

const StateRef = builder.enumType('ChangeRequestState', {
  values: {
    OPEN: { value: 'open', description: 'Waiting for approvals.' },
    APPLYING: { value: 'applying', description: 'Approved; a gateway is writing it.' },
    APPLIED: { value: 'applied', description: 'Written: appliedVersion is the version it wrote.' },
    REJECTED: { value: 'rejected' },
    WITHDRAWN: { value: 'withdrawn' },
    STALE: { value: 'stale', description: 'Not written: the config moved under it, or the document no longer passed (outcome says why).' },
    EXPIRED: { value: 'expired', description: 'Open past expiresAt: it can no longer be approved.' },
  } as const,
});

const VerdictRef = builder.enumType('ReviewVerdict', {
  values: { APPROVE: { value: 'approve' }, REJECT: { value: 'reject' }, COMMENT: { value: 'comment' } } as const,
});

const ChangeReviewRef = builder.objectRef<ChangeReview>('ChangeReview').implement({
  fields: (t) => ({
    id: t.exposeString('id'),
    reviewer: t.exposeString('reviewer'),
    verdict: t.field({ type: VerdictRef, resolve: (review) => review.verdict }),
    comment: t.exposeString('comment', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const RebaseRef = builder.objectRef<{ currentVersion: number; clean: boolean; detail: string }>('ChangeRequestRebase').implement({
  description: 'What approving a request whose config moved since its base would do.',
  fields: (t) => ({
    currentVersion: t.exposeInt('currentVersion'),
    clean: t.exposeBoolean('clean', { description: 'True: it applies onto currentVersion (the settings it changes did not move). False: approving closes it as stale.' }),
    detail: t.exposeString('detail'),
  }),
});

export const ChangeRequestRef = builder.objectRef<ChangeRequest>('ChangeRequest').implement({
  description:
    'A change to a config in a protected environment, held until enough principals other than its author approve it; the approval that completes the count writes it, as its author\'s change.',
  fields: (t) => ({
    id: t.exposeString('id'),
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    baseVersion: t.exposeInt('baseVersion', { description: 'The version it was proposed on (moved forward when it was rebased).' }),
    patch: t.field({ type: 'JSONObject', nullable: true, description: 'The RFC 7396 merge patch asked for (or config).', resolve: (request) => request.patch }),
    config: t.field({ type: 'JSONObject', nullable: true, description: 'The whole document asked for (or patch).', resolve: (request) => request.config }),
    proposed: t.field({ type: 'JSONObject', description: 'The document it writes on its base version.', resolve: (request) => request.proposed }),
    diff: t.field({
      type: [JsonPatchOperationRef],
      nullable: true,
      description: 'RFC 6902 operations from the content at baseVersion to the proposed document (null, with an error, when the page is refused).',
      args: patchPageArgs,
      resolve: async (request, args, ctx) => patchPage(await requestDiffLoader(ctx).load(request), args),
    }),
    description: t.exposeString('description', { nullable: true }),
    reason: t.exposeString('reason'),
    author: t.exposeString('author'),
    requiredApprovals: t.exposeInt('requiredApprovals'),
    approvals: t.int({ description: 'Approvals so far (one per principal).', resolve: (request) => approvalsOf(request).length }),
    state: t.field({ type: StateRef, resolve: (request) => request.state }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    closedAt: t.expose('closedAt', { type: 'DateTime', nullable: true }),
    appliedVersion: t.exposeInt('appliedVersion', { nullable: true }),
    outcome: t.exposeString('outcome', { nullable: true, description: 'Why it closed as it did; "rebased from version …" when it was.' }),
    rebase: t.field({
      type: RebaseRef,
      nullable: true,
      description: 'While open: null when the config is still at baseVersion; otherwise whether approving would apply it rebased onto the current version or close it as stale, and why.',
      resolve: (request, _args, ctx) => ctx.store.requests.rebase(request),
    }),
    reviews: t.field({ type: [ChangeReviewRef], description: 'Approvals, rejections and comments, oldest first.', resolve: (request) => request.reviews }),
  }),
});

const ProtectedEnvironmentRef = builder.objectRef<ProtectedEnvironment>('ProtectedEnvironment').implement({
  description: 'An environment whose changes need approvals: updates and rollbacks become change requests; creating, deleting and restoring need an admin to break glass.',
  fields: (t) => ({
    environment: t.exposeString('environment'),
    requiredApprovals: t.exposeInt('requiredApprovals'),
    protectedBy: t.exposeString('protectedBy'),
    protectedAt: t.expose('protectedAt', { type: 'DateTime' }),
    reason: t.exposeString('reason', { nullable: true }),
  }),
});

const UnprotectedEnvironmentRef = builder.objectRef<{ environment: string; wasProtected: boolean }>('UnprotectedEnvironment').implement({
  fields: (t) => ({ environment: t.exposeString('environment'), wasProtected: t.exposeBoolean('wasProtected') }),
});

/** The request, if the caller may take `action` on it (access/principal.ts, mayActOnRequest). */
async function requestFor(ctx: Context, id: string, action: 'see' | 'review' | 'withdraw'): Promise<ChangeRequest> {
  const request = await ctx.store.requests.find(requestId(id));
  if (!request) throw new ChangeRequestError(id, `no change request ${id}`);
  requireRequestAccess(ctx.viewer!, request, action);
  return request;
}

const requestErrors = [...accessErrors, ChangeRequestError, ValidationError];

builder.queryFields((t) => ({
  changeRequests: t.field({
    type: [ChangeRequestRef],
    nullable: true,
    description: 'Change requests the caller may see, newest first (at most 100); open ones unless states says otherwise.',
    args: {
      service: t.arg.string(),
      environment: t.arg.string(),
      states: t.arg({ type: [StateRef] }),
    },
    authScopes: { signedIn: true },
    resolve: async (_root, args, ctx) => ctx.store.requests.list({ ...args, ...(await visibleTo(ctx)) }),
  }),
  changeRequest: t.field({
    type: ChangeRequestRef,
    nullable: true,
    args: { id: t.arg.string({ required: true }) },
    authScopes: { signedIn: true },
    errors: { types: requestErrors },
    resolve: (_root, args, ctx) => requestFor(ctx, args.id, 'see'),
  }),
  protectedEnvironments: t.field({
    type: [ProtectedEnvironmentRef],
    nullable: true,
    authScopes: { signedIn: true },
    resolve: (_root, _args, ctx) => ctx.store.protection.list(),
  }),
}));

const ReviewInput = builder.inputType('ReviewChangeRequestInput', {
  fields: (t) => ({
    id: t.string({ required: true }),
    verdict: t.field({ type: VerdictRef, required: true, description: 'Approve or reject (not the author; needs write access to the config), or comment (anyone who may see it).' }),
    comment: t.string(),
  }),
});

const WithdrawInput = builder.inputType('WithdrawChangeRequestInput', { fields: (t) => ({ id: t.string({ required: true }) }) });

const ProtectInput = builder.inputType('ProtectEnvironmentInput', {
  fields: (t) => ({
    environment: t.string({ required: true }),
    requiredApprovals: t.int({ defaultValue: 1, description: 'From 1 to 10 principals other than the author.' }),
    reason: t.string(),
  }),
});

const UnprotectInput = builder.inputType('UnprotectEnvironmentInput', { fields: (t) => ({ environment: t.string({ required: true }) }) });

builder.mutationFields((t) => ({
  reviewChangeRequest: t.field({
    type: ChangeRequestRef,
    description: 'Approves, rejects or comments on a change request; the approval that completes the count applies it.',
    args: { input: t.arg({ type: ReviewInput, required: true }) },
    authScopes: { signedIn: true },
    errors: { types: [...writeErrors, ChangeRequestError] },
    resolve: async (_root, { input }, ctx) => {
      const request = await requestFor(ctx, input.id, input.verdict === 'comment' ? 'see' : 'review');
      return ctx.store.requests.review(request.id, ctx.actor, input.verdict, input.comment);
    },
  }),
  withdrawChangeRequest: t.field({
    type: ChangeRequestRef,
    description: 'Withdraws an open change request: its author, or an admin without restrictions.',
    args: { input: t.arg({ type: WithdrawInput, required: true }) },
    authScopes: { signedIn: true },
    errors: { types: requestErrors },
    resolve: async (_root, { input }, ctx) => {
      const request = await requestFor(ctx, input.id, 'withdraw');
      return ctx.store.requests.withdraw(request.id, ctx.actor);
    },
  }),
  protectEnvironment: t.field({
    type: ProtectedEnvironmentRef,
    description: 'Makes changes to an environment need approvals (or changes how many).',
    args: { input: t.arg({ type: ProtectInput, required: true }) },
    authScopes: { protectEnvironments: true },
    errors: { types: [...accessErrors, ValidationError] },
    resolve: (_root, { input }, ctx) => ctx.store.protection.protect(input.environment, input.requiredApprovals ?? 1, { actor: ctx.actor, reason: input.reason }),
  }),
  unprotectEnvironment: t.field({
    type: UnprotectedEnvironmentRef,
    description: 'Lifts the protection; open change requests stay, and may still be approved.',
    args: { input: t.arg({ type: UnprotectInput, required: true }) },
    authScopes: { protectEnvironments: true },
    errors: { types: [...accessErrors, ValidationError] },
    resolve: async (_root, { input }, ctx) => ({ environment: input.environment, wasProtected: await ctx.store.protection.unprotect(input.environment) }),
  }),
}));
