import type { Piscina } from 'piscina';
import type { ConfigSchemas, SchemaCheck, SchemaVetting } from './configSchemas.ts';
import { schemaViolations } from './configSchemas.ts';
import { type JsonObject, type JsonValue, type PatchOperation, diffDocuments, documentText } from './documents.ts';
import { type ValidationIssue, listed } from './errors.ts';
import { PatternBudgetError } from '../protocol/schemaPatterns.ts';
import type { PatchText } from './patchText.ts';
import { findSecrets } from './secretGuard.ts';

/** What a document breaks, pointers into `/config`: its schema's rules, then (only when it passes them) the secret guard's. */
export interface DocumentProblems {
  violations: ValidationIssue[];
  secrets: ValidationIssue[];
}

/**
 * Checks a document against a compiled schema (or none) and the secret guard. With a pattern `budget`
 * below the whole one, throws a PatternBudgetError when the schema's patterns would need more.
 */
export function documentProblems(check: SchemaCheck | null, document: JsonValue, budget?: number): DocumentProblems {
  const violations = check ? schemaViolations(check.validate, document, '/config', budget) : [];
  if (violations.length > 0) return { violations: listed(violations), secrets: [] };
  const secrets = findSecrets(document, check?.notSecret).map((issue) => ({ ...issue, pointer: `/config${issue.pointer}` }));
  return { violations, secrets: listed(secrets) };
}

/**
 * Documents whose JSON is at least this long are checked on a worker thread: checking costs time in
 * proportion to a document, which on the event loop would hold every other request. Smaller ones (nearly
 * all) are checked where they are, which costs less than a trip to the worker.
 */
export const WORKER_THRESHOLD_CHARS = 32 * 1024;

/** Whether the diff between two versions' JSON texts (null for none) is large: worked out on the worker thread. */
export const isLargeDiff = (from: string | null, to: string | null) => (from?.length ?? 0) + (to?.length ?? 0) >= WORKER_THRESHOLD_CHARS;

/**
 * The pattern work (schemaPatterns.ts) a check on the event loop may spend, some milliseconds: a small
 * document whose schema's patterns would need more is checked on the worker, with the whole budget.
 */
const EVENT_LOOP_PATTERN_BUDGET = 2 ** 19;

/** The worker's entry (checkWorker.ts), as a file that runs under tsx now and as compiled JavaScript later. */
const WORKER_FILE = new URL(`./checkWorker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

/** A task for the worker (checkWorker.ts). */
export type CheckTask =
  | { kind: 'document'; schemaKey: string | null; schema: JsonObject | null; text: string }
  | { kind: 'schema'; schema: JsonObject; configs: { environment: string; config: JsonValue }[] }
  | { kind: 'diff'; from: string | null; to: string | null };

/** The worker's answer for a stored schema it cannot compile. */
export interface UnusableSchema {
  unusable: string;
}

/** The operations between two documents' JSON texts (null: a deletion, diffed as `{}`). */
export function diffTexts(from: string | null, to: string | null): PatchOperation[] {
  return diffDocuments(from === null ? null : (JSON.parse(from) as JsonValue), to === null ? null : (JSON.parse(to) as JsonValue));
}

/**
 * Where documents and new schemas are checked: on the event loop when small, on one worker thread
 * (Piscina, started when first needed, stopped when idle) when large, so that no request holds the
 * event loop with them. The same functions run in both places.
 */
export class DocumentChecker {
  private pool: Promise<Piscina> | undefined;

  constructor(private readonly schemas: ConfigSchemas) {}

  /** The problems of a service's document (its newest schema, and the secret guard). */
  async check(service: string, document: JsonObject): Promise<DocumentProblems> {
    const stored = await this.schemas.stored(service);
    const text = documentText(document);
    if (text.length < WORKER_THRESHOLD_CHARS && stored?.check !== null) {
      try {
        return documentProblems(stored?.check ?? null, document, EVENT_LOOP_PATTERN_BUDGET);
      } catch (error) {
        if (!(error instanceof PatternBudgetError)) throw error;
      }
    }
    const problems = (await (await this.worker()).run({
      kind: 'document',
      schemaKey: stored ? `${service}@${stored.row.version}` : null,
      schema: (stored?.row.schema as JsonObject | undefined) ?? null,
      text,
    } satisfies CheckTask)) as DocumentProblems | UnusableSchema;
    if ('unusable' in problems) throw this.schemas.unusable(service, stored!.row.version, problems.unusable);
    return problems;
  }

  /**
   * The problems of a new schema for a service whose live configs are `configs`, worked out on the worker
   * whatever its size: compiling even a small schema costs more than a request should hold the event loop,
   * new schemas are rare, and one sent again and again would otherwise take that from it each time.
   */
  async vetSchema(schema: JsonObject, configs: { environment: string; config: JsonValue }[]): Promise<SchemaVetting> {
    return (await this.worker()).run({ kind: 'schema', schema, configs } satisfies CheckTask) as Promise<SchemaVetting>;
  }

  /** The operations between two documents; large ones as `diff` gives them. */
  diffDocuments(from: JsonObject, to: JsonObject): Promise<PatchOperation[] | PatchText> {
    const [fromText, toText] = [documentText(from), documentText(to)];
    if (!isLargeDiff(fromText, toText)) return Promise.resolve(diffDocuments(from, to));
    return this.diff(fromText, toText);
  }

  /**
   * The operations between two versions' JSON texts (null for a deletion); large ones worked out on the
   * worker, and kept as it hands them over: written out (patchText.ts), to be read a page at a time.
   */
  async diff(from: string | null, to: string | null): Promise<PatchOperation[] | PatchText> {
    if (!isLargeDiff(from, to)) return diffTexts(from, to);
    return (await this.worker()).run({ kind: 'diff', from, to } satisfies CheckTask) as Promise<PatchText>;
  }

  /** The pool, and Piscina itself, loaded when first needed: most gateways never check a large document. */
  private worker(): Promise<Piscina> {
    this.pool ??= import('piscina').then(
      ({ Piscina }) =>
        new Piscina({
          filename: WORKER_FILE,
          minThreads: 0,
          maxThreads: 1,
          idleTimeout: 60_000,
          // Under tsx, the worker loads TypeScript the same way.
          execArgv: WORKER_FILE.endsWith('.ts') ? ['--import', 'tsx'] : [],
        }),
    );
    return this.pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await (await pool)?.destroy();
  }
}
