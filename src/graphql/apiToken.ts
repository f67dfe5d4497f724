import type { Principal, Role } from '../access/principal.ts';
import type { ApiToken } from '../access/tokens.ts';
import { builder } from './builder.ts';
import { accessErrors } from './errors.ts';
import { ValidationError } from '../store/errors.ts';

const RoleRef = builder.enumType('Role', {
  description: 'Readers read; editors also write configs they are scoped to; admins also manage tokens and schemas.',
  values: { READER: { value: 'reader' }, EDITOR: { value: 'editor' }, ADMIN: { value: 'admin' } } as const,
});

const ApiTokenRef = builder.objectRef<ApiToken>('ApiToken').implement({
  description: 'An API token. The hub keeps only its digest: the token itself was shown once, when it was created.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name', { description: 'Recorded as actor of every change made with it.' }),
    prefix: t.exposeString('prefix', { description: 'Its first characters, to tell it apart.' }),
    role: t.field({ type: RoleRef, resolve: (token) => token.role }),
    services: t.exposeStringList('services', { nullable: true, description: 'Services (names or globs) it may touch; null: all.' }),
    environments: t.exposeStringList('environments', { nullable: true, description: 'Environments it may touch; null: all.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    createdBy: t.exposeString('createdBy'),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'Updated at most once a minute.' }),
  }),
});

const ViewerRef = builder.objectRef<Principal>('Viewer').implement({
  description: 'The token this request carries, and what it may do.',
  fields: (t) => ({
    name: t.exposeString('name'),
    role: t.field({ type: RoleRef, resolve: (viewer) => viewer.role }),
    services: t.exposeStringList('services', { nullable: true, description: 'Services (names or globs) it may touch; null: all.' }),
    environments: t.exposeStringList('environments', { nullable: true, description: 'Environments it may touch; null: all.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
  }),
});

const CreatedTokenRef = builder.objectRef<{ token: string; apiToken: ApiToken }>('CreatedToken').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The token: shown this once, never stored. Send it as "Authorization: Bearer <token>".' }),
    apiToken: t.field({ type: ApiTokenRef, resolve: (created) => created.apiToken }),
  }),
});

const CreateTokenInput = builder.inputType('CreateTokenInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique, kept after revocation; recorded as actor.' }),
    role: t.field({ type: RoleRef, required: true }),
    services: t.stringList({ description: 'Exact names or globs such as "polygon-*"; omitted: every service.' }),
    environments: t.stringList({ description: 'Omitted: every environment.' }),
    expiresAt: t.field({ type: 'DateTime', description: 'Omitted: never expires.' }),
  }),
});

const RotateTokenInput = builder.inputType('RotateTokenInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    expiresAt: t.field({ type: 'DateTime', description: "Omitted: the token's expiry stays as it was." }),
  }),
});

const RevokeTokenInput = builder.inputType('RevokeTokenInput', {
  fields: (t) => ({ name: t.string({ required: true }) }),
});

builder.queryFields((t) => ({
  viewer: t.field({
    type: ViewerRef,
    nullable: true,
    description: 'Who is asking: the token this request carries (null without one).',
    resolve: (_root, _args, ctx) => ctx.viewer,
  }),
  tokens: t.field({
    type: [ApiTokenRef],
    nullable: true,
    description: 'Every token, revoked ones included, newest first (admins).',
    authScopes: { manageTokens: true },
    resolve: (_root, _args, ctx) => ctx.tokens.list(),
  }),
}));

builder.mutationFields((t) => ({
  createToken: t.field({
    type: CreatedTokenRef,
    description: 'Makes a token; the result holds the token itself, shown this once (admins).',
    args: { input: t.arg({ type: CreateTokenInput, required: true }) },
    authScopes: { manageTokens: true },
    errors: { types: [...accessErrors, ValidationError] },
    resolve: (_root, { input }, ctx) => ctx.tokens.create({ ...input, role: input.role as Role }, ctx.actor),
  }),
  rotateToken: t.field({
    type: CreatedTokenRef,
    description:
      'Gives a token a new secret, with the same name, role and scope; the old secret is refused at once on every instance, and sessions opened with it end (admins). Shown this once.',
    args: { input: t.arg({ type: RotateTokenInput, required: true }) },
    authScopes: { manageTokens: true },
    errors: { types: [...accessErrors, ValidationError] },
    resolve: (_root, { input }, ctx) => ctx.tokens.rotate(input.name, ctx.actor, input.expiresAt ?? undefined),
  }),
  revokeToken: t.field({
    type: ApiTokenRef,
    description: 'Revokes a token for good, on every gateway instance at once (admins).',
    args: { input: t.arg({ type: RevokeTokenInput, required: true }) },
    authScopes: { manageTokens: true },
    errors: { types: [...accessErrors, ValidationError] },
    resolve: (_root, { input }, ctx) => ctx.tokens.revoke(input.name, ctx.actor),
  }),
}));
