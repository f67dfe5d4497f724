import { GraphQLError, type GraphQLSchema, defaultFieldResolver, getNamedType, isObjectType } from 'graphql';

/**
 * The most JSON (config documents, schemas, patch values) one answer to a query or mutation may carry.
 * Writing an answer out costs the event loop in proportion to its size, in one piece: twenty aliases of
 * one 256 KiB config made 5 MiB and held every other request for a third of a second. A subscription's
 * events are not counted (each carries one document, and the socket's own limits apply).
 */
export const MAX_ANSWER_JSON_BYTES = 2 * 1024 * 1024;

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
      `the answer would carry more than ${MAX_ANSWER_JSON_BYTES} bytes (2 MiB) of JSON: ask for fewer configs, versions or aliases at a time`,
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

/** Counts every JSON field's value against its answer's MAX_ANSWER_JSON_BYTES (fields past it are errors). */
export function withAnswerBudget(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type).name;
      if (named !== 'JSON' && named !== 'JSONObject') continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context: object, info) => {
        const value: unknown = resolve(source, args, context, info);
        if (info.operation.operation === 'subscription') return value;
        return value instanceof Promise ? value.then((resolved) => charge(context, resolved)) : charge(context, value);
      };
    }
  }
  return schema;
}
