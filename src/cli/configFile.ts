import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { text as streamText } from 'node:stream/consumers';
import { type HubConnection, type JsonObject, answered, hubRequest, isJsonObject } from '@confighub/client';
import { usageError } from './errors.ts';
import { fittingPage } from './connection.ts';
import type { CliListConfigsQuery } from './generated/graphql.ts';
import { ListConfigs } from './operations.ts';

export type FileFormat = 'json' | 'yaml';

/** The format a file name implies (`.yaml`/`.yml` is YAML, anything else JSON). */
export function formatOfPath(file: string | undefined): FileFormat | undefined {
  if (!file || file === '-') return undefined;
  const extension = path.extname(file).toLowerCase();
  return extension === '.yaml' || extension === '.yml' ? 'yaml' : extension === '.json' ? 'json' : undefined;
}

/** A JSON or YAML document from a file, or from stdin for `-` (YAML 1.2 reads JSON too). */
export async function readDocumentFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await streamText(process.stdin) : await readFile(file, 'utf8');
  } catch (error) {
    throw usageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    // yaml is loaded only when a file needs it: every command pays for what it imports at start.
    return formatOfPath(file) === 'json' ? JSON.parse(text) : (await import('yaml')).parse(text, { uniqueKeys: true });
  } catch (error) {
    throw usageError(`${file} is not valid ${formatOfPath(file) === 'json' ? 'JSON' : 'JSON or YAML'}: ${(error as Error).message.split('\n')[0]}`);
  }
}

export async function serialize(document: unknown, format: FileFormat): Promise<string> {
  return format === 'yaml' ? (await import('yaml')).stringify(document, { lineWidth: 0 }) : `${JSON.stringify(document, null, 2)}\n`;
}

/** One config as listed by the hub. */
export type ListedConfig = NonNullable<CliListConfigsQuery['configs']>['edges'][number]['node'] & { config: JsonObject };

/** Every live config of an environment, following the connection's pages (smaller ones for large configs). */
export async function listConfigs(connection: HubConnection, environment: string): Promise<ListedConfig[]> {
  const configs: ListedConfig[] = [];
  let after: string | null | undefined;
  do {
    const page = await fittingPage(connection, 100, async (first) =>
      answered((await hubRequest(connection, ListConfigs, { environment, first, after })).configs, 'configs'),
    );
    for (const edge of page.edges) configs.push({ ...edge.node, config: edge.node.config as JsonObject });
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
  } while (after);
  return configs;
}

/** The file `export` writes and `import` reads: every config of one environment. */
export interface ExportDocument {
  /** The format's version. */
  confighub: 1;
  environment: string;
  exportedAt: string;
  configs: Record<string, { description?: string | null; version?: number; config: JsonObject }>;
}

export function toExportDocument(environment: string, configs: ListedConfig[]): ExportDocument {
  const byService: ExportDocument['configs'] = {};
  for (const config of [...configs].sort((a, b) => a.service.localeCompare(b.service))) {
    byService[config.service] = { description: config.description ?? null, version: config.version, config: config.config };
  }
  return { confighub: 1, environment, exportedAt: new Date().toISOString(), configs: byService };
}

/** Checks a parsed import file; every problem is a usage error that names where it is. */
export function parseExportDocument(document: unknown, file: string): ExportDocument {
  if (!isJsonObject(document)) throw usageError(`${file}: expected an object with "environment" and "configs"`);
  if (document.confighub !== undefined && document.confighub !== 1) throw usageError(`${file}: unsupported format version ${JSON.stringify(document.confighub)}`);
  if (document.environment !== undefined && typeof document.environment !== 'string') throw usageError(`${file}: "environment" must be a string`);
  if (!isJsonObject(document.configs)) throw usageError(`${file}: "configs" must be an object keyed by service name`);
  for (const [service, entry] of Object.entries(document.configs)) {
    if (!isJsonObject(entry) || !isJsonObject(entry.config)) throw usageError(`${file}: configs.${service}.config must be an object`);
    if (entry.description != null && typeof entry.description !== 'string') throw usageError(`${file}: configs.${service}.description must be a string`);
  }
  return document as unknown as ExportDocument;
}
