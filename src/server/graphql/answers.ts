import { type DocumentNode, type GraphQLSchema, TypeInfo, visit, visitWithTypeInfo } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../../access/principal.ts';
import type { ConfigCache, ConfigReads } from '../../store/cache.ts';

/**
 * Answers of the direct POST path (post.ts) kept for the next identical request: the same document,
 * operation name and variables, from a caller with the same token and scope. Only a read made of fields
 * that are a function of the config rows it reads, of its arguments and of the caller (`PURE_FIELDS`) is
 * kept, and only while the store's cache serves the very rows it was made from: a change committed
 * anywhere (this gateway, another, psql) reaches that cache as it always did (LISTEN, or the write's own
 * answer here), and the kept answer is then no longer served. An answer is therefore never older than
 * what executing the operation at that moment would read. Errors, a config not found in the database, and
 * anything else (listings, history, instances, schemas, tokens, introspection) are executed every time.
 * The caller is authenticated on every request, before anything kept is looked at.
 */
export const PURE_FIELDS: Record<string, ReadonlySet<string>> = {
  Query: new Set(['config']),
  ServiceConfig: new Set(['id', 'service', 'environment', 'config', 'version', 'description', 'createdAt', 'updatedAt', 'updatedBy', 'deletedAt']),
  Error: new Set(['message']),
  ForbiddenError: new Set(['message']),
  UnauthenticatedError: new Set(['message']),
  NotFoundError: new Set(['environment', 'message', 'service', 'version']),
  ValidationError: new Set(['issues', 'message']),
  ValidationIssue: new Set(['message', 'pointer']),
};

/** Requests (document and variables) longer than this are never kept: their key would be as long. */
const MAX_KEY_CHARS = 16 * 1024;
/** The largest answer kept, and what all kept answers may weigh together. */
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_TOTAL_BYTES = 32 * 1024 * 1024;
const MAX_ANSWERS = 4_096;

interface KeptAnswer {
  body: Buffer;
  reads: { key: string; row: NonNullable<ConfigReads[number]['row']> }[];
}

/** A request's GraphQL parameters, as sent in a JSON POST. */
export interface AnswerRequest {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
}

export class KeptAnswers {
  private readonly answers = new LRUCache<string, KeptAnswer>({ max: MAX_ANSWERS, maxSize: MAX_TOTAL_BYTES, sizeCalculation: (answer, key) => answer.body.length + key.length });
  /** Per document: whether all its fields are pure (validated documents only; computed once). */
  private readonly pure = new WeakMap<DocumentNode, boolean>();
  private readonly callers = new WeakMap<Principal, string>();
  /** Answers served from here, for tests and metrics. */
  hits = 0;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly configs: ConfigCache,
  ) {}

  /** The key under which the answer to this request is kept, or null when it is never kept. */
  keyOf(document: DocumentNode, request: AnswerRequest, viewer: Principal | null): string | null {
    if (request.extensions != null || request.query.length > MAX_KEY_CHARS || !this.isPure(document)) return null;
    const variables = request.variables == null ? '' : JSON.stringify(request.variables);
    if (variables.length > MAX_KEY_CHARS) return null;
    return `${this.callerKey(viewer)}\n${request.operationName ?? ''}\n${variables}\n${request.query}`;
  }

  /** The kept answer's bytes, if every config row it was made from is still the one served. */
  get(key: string): Buffer | undefined {
    const answer = this.answers.get(key);
    if (!answer) return undefined;
    for (const read of answer.reads) {
      if (!this.configs.isCurrent(read.key, read.row)) {
        this.answers.delete(key);
        return undefined;
      }
    }
    this.hits++;
    return answer.body;
  }

  /** Keeps a clean answer made from `reads`, unless a row it read is no longer the one served (or none was found). */
  offer(key: string, text: string, reads: ConfigReads): void {
    if (text.length > MAX_ANSWER_BYTES) return;
    const kept: KeptAnswer['reads'] = [];
    for (const { key: config, row } of reads) {
      if (row === null || !this.configs.isCurrent(config, row)) return;
      kept.push({ key: config, row });
    }
    const body = Buffer.from(text);
    if (body.length <= MAX_ANSWER_BYTES) this.answers.set(key, { body, reads: kept });
  }

  private isPure(document: DocumentNode): boolean {
    let pure = this.pure.get(document);
    if (pure === undefined) {
      pure = onlyPureFields(this.schema, document);
      this.pure.set(document, pure);
    }
    return pure;
  }

  /** Who asks, as far as an answer can depend on it: the token, its role and its scope. */
  private callerKey(viewer: Principal | null): string {
    if (viewer === null) return '';
    let key = this.callers.get(viewer);
    if (key === undefined) {
      key = JSON.stringify([viewer.id, viewer.role, viewer.services, viewer.environments]);
      this.callers.set(viewer, key);
    }
    return key;
  }
}

/** Whether every field the document selects (in any operation or fragment, under any directive) is pure. */
export function onlyPureFields(schema: GraphQLSchema, document: DocumentNode): boolean {
  const typeInfo = new TypeInfo(schema);
  let pure = true;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      OperationDefinition(node) {
        if (node.operation !== 'query') pure = false;
      },
      Field(node) {
        if (node.name.value === '__typename') return;
        const parent = typeInfo.getParentType();
        if (!parent || !PURE_FIELDS[parent.name]?.has(node.name.value)) pure = false;
      },
    }),
  );
  return pure;
}
