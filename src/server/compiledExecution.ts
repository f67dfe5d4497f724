import { type DocumentNode, type ExecutionArgs, type ExecutionResult, GraphQLError, type SourceLocation, getOperationAST } from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

type Execute = (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;

/**
 * An operation is compiled when it runs the second time. Compiling costs far more than running once
 * (graphql-jit generates and evaluates code), so a document a client sends only once, with its values
 * written in rather than passed as variables, is never compiled.
 */
const COMPILE_FROM_RUN = 2;

/** Operations run compiled, and those run by the standard executor instead (tests). */
export interface ExecutionCounts {
  compiled: number;
  standard: number;
}

/**
 * Queries and mutations run as code that graphql-jit compiled for their document and operation (from
 * their second run on, then cached with the parsed document), instead of being interpreted field by
 * field on every request: less CPU per request for the same resolvers, hooks and results. Over HTTP and
 * WebSocket alike, since it is an execution hook of envelop's.
 *
 * Left to the standard executor:
 * - subscriptions (graphql-jit reports their refusals as thrown errors, not as results);
 * - a document graphql-jit does not compile;
 * - a request whose variables do not coerce: graphql-jit refuses them before anything runs, so the
 *   standard executor runs it instead, to say why in graphql-js's words (which value, which enum).
 *
 * graphql-jit calls `isTypeOf` without the context (graphql-jit issue #160), so no type may check its
 * auth scopes there (Pothos' `runScopesOnType`): they are checked by each field's resolver instead.
 */
export function useCompiledExecution(counts?: ExecutionCounts): Plugin {
  /** Per parsed document (yoga caches those), per operation name: how often it ran, and once compiled, the code (null if it did not compile). */
  const operations = new WeakMap<DocumentNode, Map<string, { runs: number; query?: CompiledQuery | null }>>();

  /** The compiled operation from its second run on: a document sent once is not worth compiling. */
  function compiledFor(args: ExecutionArgs): CompiledQuery | null {
    let byName = operations.get(args.document);
    if (!byName) {
      byName = new Map();
      operations.set(args.document, byName);
    }
    const name = args.operationName ?? '';
    let entry = byName.get(name);
    if (!entry) {
      entry = { runs: 0 };
      byName.set(name, entry);
    }
    if (++entry.runs < COMPILE_FROM_RUN) return null;
    if (entry.query === undefined) {
      const operation = getOperationAST(args.document, args.operationName);
      const result = operation && operation.operation !== 'subscription' ? compileQuery(args.schema, args.document, args.operationName ?? undefined) : null;
      entry.query = result && isCompiledQuery(result) ? result : null;
    }
    return entry.query;
  }

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const query = compiledFor(args);
      if (!query) {
        if (counts) counts.standard++;
        return;
      }
      const standard = executeFn as Execute;
      const run: Execute = (executionArgs) => {
        const result = query.query(executionArgs.rootValue, executionArgs.contextValue, executionArgs.variableValues);
        if (!(result instanceof Promise) && refusedVariables(result)) {
          if (counts) counts.standard++;
          return standard(executionArgs);
        }
        if (counts) counts.compiled++;
        return result instanceof Promise
          ? result.then((settled) => withDocumentErrors(settled, executionArgs.document))
          : withDocumentErrors(result, executionArgs.document);
      };
      setExecuteFn(run as typeof executeFn);
    },
  };
}

/** An executor's refusal of a variable value that does not coerce (graphql-js and graphql-jit word it alike). */
export const isVariableError = (error: GraphQLError) => error.message.startsWith('Variable "$');

/** A result without data whose errors are all about variables: nothing ran. */
const refusedVariables = (result: ExecutionResult) =>
  !('data' in result) && (result.errors?.length ?? 0) > 0 && result.errors!.every(isVariableError);

/**
 * graphql-jit's errors give the locations in the document, not the source positions they come from,
 * and the error masking and yoga's result processing rebuild errors from those positions: each becomes a
 * graphql-js error pointing at the same place, as graphql-js's executor would have made it.
 */
function withDocumentErrors(result: ExecutionResult, document: DocumentNode): ExecutionResult {
  const source = document.loc?.source;
  if (!result.errors?.length || !source) return result;
  let lineStarts: number[] | undefined;
  const positionOf = ({ line, column }: SourceLocation) => {
    lineStarts ??= [0, ...[...source.body.matchAll(/\r\n|[\n\r]/g)].map((match) => match.index + match[0].length)];
    return (lineStarts[line - 1] ?? 0) + column - 1;
  };
  const errors = result.errors.map((error) =>
    error.nodes || !error.locations?.length
      ? error
      : new GraphQLError(error.message, {
          source,
          positions: error.locations.map(positionOf),
          path: error.path,
          originalError: error.originalError,
          extensions: error.extensions,
        }),
  );
  return { ...result, errors };
}
