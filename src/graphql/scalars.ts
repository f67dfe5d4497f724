import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { MAX_ANSWER_PATCH_OPERATIONS } from './answerBudget.ts';
import { DateTimeResolver, JSONObjectResolver, JSONResolver, SafeIntResolver } from 'graphql-scalars';
import { type PatchOperation, numberRoundTrips } from '../store/documents.ts';
import { type PatchText, patchLength, readPatch } from '../store/patchText.ts';
import { builder } from './builder.ts';

/**
 * A JSON scalar whose literals are refused, with a validation error, when they hold a number the hub
 * could not keep exactly (`12345678901234567890`, `1e400`): the same rule as for JSON sent as variables
 * or REST bodies (documents.ts). (How deep a literal may nest is bounded for the whole document before
 * it is parsed, server/graphql/yoga.ts; a document deeper than 32 levels is refused by the store.)
 */
function checkedJsonScalar(scalar: GraphQLScalarType): GraphQLScalarType {
  return new GraphQLScalarType({
    ...scalar.toConfig(),
    parseLiteral(ast, variables) {
      checkLiteral(ast);
      return scalar.parseLiteral(ast, variables);
    },
  });
}

/** Walks a literal without recursion. */
function checkLiteral(root: ValueNode): void {
  const stack: ValueNode[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if ((node.kind === Kind.INT || node.kind === Kind.FLOAT) && !numberRoundTrips(node.value)) {
      throw new GraphQLError(`the number ${node.value.slice(0, 40)} cannot be kept exactly (JSON numbers are IEEE 754 doubles): send it as a string`);
    }
    if (node.kind === Kind.OBJECT) for (const field of node.fields) stack.push(field.value);
    if (node.kind === Kind.LIST) stack.push(...node.values);
  }
}

builder.addScalarType('JSON', checkedJsonScalar(JSONResolver));
builder.addScalarType('JSONObject', checkedJsonScalar(JSONObjectResolver));
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

/**
 * The page arguments of every list of patch operations. An answer carries at most
 * MAX_ANSWER_PATCH_OPERATIONS of them in all (answerBudget.ts): a longer patch is read in pages.
 * On a type that is itself listed (ChangeRequest, ConfigChange) the list is nullable: a refused page
 * then stays in its item, and every item's refusal is reported. Were it non-null, the first refusal
 * would end the whole list, and which item's came first is a matter of timing.
 */
export const patchPageArgs = builder.args((t) => ({
  offset: t.int({ defaultValue: 0, description: 'Skip this many operations.' }),
  limit: t.int({ description: `At most this many operations (1 to ${MAX_ANSWER_PATCH_OPERATIONS}); all when omitted. One answer carries at most ${MAX_ANSWER_PATCH_OPERATIONS} in all.` }),
}));

/** The page of `operations` the arguments ask for (a typed refusal for arguments out of range). */
export function patchPage(operations: readonly PatchOperation[] | PatchText, args: { offset?: number | null; limit?: number | null }): readonly PatchOperation[] {
  const length = patchLength(operations);
  const offset = args.offset ?? 0;
  const limit = args.limit ?? length;
  if (offset < 0) throw new GraphQLError(`offset must be 0 or more, not ${offset}`);
  if (args.limit !== undefined && args.limit !== null && (limit < 1 || limit > MAX_ANSWER_PATCH_OPERATIONS)) {
    throw new GraphQLError(`limit must be from 1 to ${MAX_ANSWER_PATCH_OPERATIONS}, not ${limit}`);
  }
  return Array.isArray(operations) && offset === 0 && limit >= length ? operations : readPatch(operations, offset, offset + limit);
}
