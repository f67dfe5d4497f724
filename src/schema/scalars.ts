import { DateTimeResolver, JSONObjectResolver, JSONResolver, SafeIntResolver } from 'graphql-scalars';
import { builder } from './builder.ts';

builder.addScalarType('JSON', JSONResolver);
builder.addScalarType('JSONObject', JSONObjectResolver);
builder.addScalarType('DateTime', DateTimeResolver);
builder.addScalarType('SafeInt', SafeIntResolver);

/** One RFC 6902 operation. */
export const JsonPatchOperationRef = builder
  .objectRef<{ op: string; path: string; from?: string; value?: unknown }>('JsonPatchOperation')
  .implement({
    description: 'One RFC 6902 JSON Patch operation.',
    fields: (t) => ({
      op: t.exposeString('op', { description: 'add, remove, replace, move, copy or test' }),
      path: t.exposeString('path', { description: 'JSON pointer (RFC 6901) of the changed member' }),
      from: t.string({ nullable: true, resolve: (operation) => operation.from ?? null }),
      value: t.field({ type: 'JSON', nullable: true, resolve: (operation) => operation.value ?? null }),
    }),
  });
