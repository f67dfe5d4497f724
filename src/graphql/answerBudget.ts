import { GraphQLError, type GraphQLResolveInfo, type GraphQLSchema, defaultFieldResolver, getNamedType, isObjectType } from 'graphql';
import { nextTurn } from '../turns.ts';

/**
 * The most JSON (config documents, schemas, patch values) one answer to a query or mutation may carry:
 * writing an answer out holds the event loop in proportion to its size. The same as a history page's
 * documents (store/history.ts). A subscription's events are not counted (each carries one document).
 */
export const MAX_ANSWER_JSON_BYTES = 1024 * 1024;

/** JSON text length of a value, measured once per object however many fields return it. */
const measured = new WeakMap<object, number>();
function jsonLength(value: unknown): number {
  if (value === null || value === undefined) return 4;
  if (typeof value !== 'object') return typeof value === 'string' ? value.length + 2 : String(value).length;
  let length = measured.get(value);
  if (length === undefined) {
    length = JSON.stringify(value).length;
    measured.set(value, length);
  }
  return length;
}

/** What each request's answer carries so far, by its context. */
const carried = new WeakMap<object, number>();

function charge<T>(context: object, value: T): T {
  const total = (carried.get(context) ?? 0) + jsonLength(value);
  if (total > MAX_ANSWER_JSON_BYTES) {
    throw new GraphQLError(
      `the answer would carry more than ${MAX_ANSWER_JSON_BYTES} bytes (1 MiB) of JSON: ask for fewer configs, versions or aliases at a time`,
      { extensions: { code: 'ANSWER_TOO_LARGE' } },
    );
  }
  carried.set(context, total);
  return value;
}

/** How much JSON a request's answer carries so far (by its context). */
export function answerJsonBytes(context: object): number {
  return carried.get(context) ?? 0;
}

/**
 * The most RFC 6902 operations one answer may carry (a subscription's: each event); graphql-js completes
 * each field by field, on the event loop in one piece. Longer patches are read in pages (`offset`, `limit`).
 */
export const MAX_ANSWER_PATCH_OPERATIONS = 1_000;

/**
 * A list of patch operations this long is completed in a turn of the event loop of its own (turns.ts):
 * completing it costs milliseconds, and answers whose data came in together would otherwise complete
 * their lists one after another in one turn.
 */
const OPERATIONS_PER_TURN = 100;

/** Patch operations each answer carries so far: by context, and for a subscription by event too. */
const operationsCarried = new WeakMap<object, number>();
const eventOperationsCarried = new WeakMap<object, WeakMap<object, number>>();

function chargeOperations(context: object, info: GraphQLResolveInfo, operations: unknown): void {
  const count = Array.isArray(operations) ? operations.length : 0;
  const event = info.operation.operation === 'subscription' && typeof info.rootValue === 'object' && info.rootValue !== null ? info.rootValue : null;
  let answers = operationsCarried;
  if (event) {
    answers = eventOperationsCarried.get(event) ?? new WeakMap<object, number>();
    eventOperationsCarried.set(event, answers);
  }
  const total = (answers.get(context) ?? 0) + count;
  if (total > MAX_ANSWER_PATCH_OPERATIONS) {
    throw new GraphQLError(
      `the answer would carry ${total} patch operations, more than ${MAX_ANSWER_PATCH_OPERATIONS}: ask for them in pages (offset, limit) or read the documents`,
      { extensions: { code: 'ANSWER_TOO_LARGE' } },
    );
  }
  answers.set(context, total);
}

/**
 * Counts every JSON field's value against its answer's MAX_ANSWER_JSON_BYTES and every list of patch
 * operations against MAX_ANSWER_PATCH_OPERATIONS (fields past either are errors).
 */
export function withAnswerBudget(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type).name;
      const resolve = field.resolve ?? defaultFieldResolver;
      if (named === 'JsonPatchOperation') {
        field.resolve = (source, args, context: object, info) => {
          const take = (operations: unknown) => {
            chargeOperations(context, info, operations);
            return Array.isArray(operations) && operations.length >= OPERATIONS_PER_TURN ? nextTurn().then(() => operations) : operations;
          };
          const operations: unknown = resolve(source, args, context, info);
          return operations instanceof Promise ? operations.then(take) : take(operations);
        };
        continue;
      }
      if (named !== 'JSON' && named !== 'JSONObject') continue;
      field.resolve = (source, args, context: object, info) => {
        const value: unknown = resolve(source, args, context, info);
        if (info.operation.operation === 'subscription') return value;
        return value instanceof Promise ? value.then((resolved) => charge(context, resolved)) : charge(context, value);
      };
    }
  }
  return schema;
}
