import {
  AlreadyExistsError,
  ChangeRequestError,
  RolloutError,
  NotFoundError,
  SecretRejectedError,
  ValidationError,
  VersionConflictError,
} from '../store/errors.ts';
import { ForbiddenError, UnauthenticatedError } from '../access/errors.ts';
import { builder } from './builder.ts';

/** Expected failures are values of the schema: every one implements Error; the errors plugin tells them apart by class. */
export const ErrorInterface = builder.interfaceRef<Error>('Error').implement({
  description: 'A refused request; nothing was written.',
  fields: (t) => ({ message: t.exposeString('message') }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    version: t.exposeInt('version', { nullable: true, description: 'The missing version, when a version was asked for.' }),
  }),
});

builder.objectType(AlreadyExistsError, {
  name: 'AlreadyExistsError',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    deleted: t.exposeBoolean('deleted', { description: 'The config exists but is soft-deleted.' }),
  }),
});

builder.objectType(VersionConflictError, {
  name: 'VersionConflictError',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    service: t.exposeString('service'),
    environment: t.exposeString('environment'),
    expectedVersion: t.exposeInt('expectedVersion'),
    currentVersion: t.exposeInt('currentVersion', { description: 'Re-read at this version and retry.' }),
  }),
});

const ValidationIssueRef = builder.objectRef<{ pointer: string; message: string }>('ValidationIssue').implement({
  fields: (t) => ({
    pointer: t.exposeString('pointer', { description: 'JSON pointer (RFC 6901) into the input; "" is all of it.' }),
    message: t.exposeString('message'),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  interfaces: [ErrorInterface],
  fields: (t) => ({ issues: t.field({ type: [ValidationIssueRef], resolve: (error) => error.issues }) }),
});

builder.objectType(SecretRejectedError, {
  name: 'SecretRejectedError',
  description: "The document holds what looks like a secret. Secrets belong in the service's environment.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    issues: t.field({ type: [ValidationIssueRef], description: 'Where each suspected secret is.', resolve: (error) => error.issues }),
    advice: t.exposeString('advice'),
  }),
});

builder.objectType(UnauthenticatedError, {
  name: 'UnauthenticatedError',
  description: 'The request carried no token, or one the hub does not accept (unknown, expired, revoked).',
  interfaces: [ErrorInterface],
  fields: () => ({}),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: "The token's role or scope does not allow this; the message says what it may do.",
  interfaces: [ErrorInterface],
  fields: () => ({}),
});

builder.objectType(ChangeRequestError, {
  name: 'ChangeRequestError',
  description: 'A change request cannot be reviewed, withdrawn or applied as asked, or a change in a protected environment needs one (or an admin breaking glass).',
  interfaces: [ErrorInterface],
  fields: (t) => ({ requestId: t.exposeString('requestId', { nullable: true }) }),
});

builder.objectType(RolloutError, {
  name: 'RolloutError',
  description: 'A rollout cannot be promoted or aborted as asked, or a change waits for the rollout under way to end.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ rolloutId: t.exposeString('rolloutId', { nullable: true }) }),
});

/** Refusals of the caller, possible on every field that asks for a scope. */
export const accessErrors = [UnauthenticatedError, ForbiddenError];
/** The failures of a read of one config. */
export const readErrors = [...accessErrors, NotFoundError, ValidationError];
/** The failures of a write. */
export const writeErrors = [...accessErrors, NotFoundError, ValidationError, VersionConflictError, SecretRejectedError, ChangeRequestError, RolloutError];
