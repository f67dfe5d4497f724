// The settings of a config as the console shows and edits them: its schema's leaves and its document's.
import type { ConsoleConfigQuery } from './generated/graphql.ts';
import { type Json, type JsonObject, leaves, valueAt } from './json.ts';

type SchemaField = NonNullable<ConsoleConfigQuery['configSchema']>['fields'][number];

export interface Setting {
  pointer: string;
  field: SchemaField | undefined;
  value: Json | undefined;
}

/** The settings of a config: its schema's leaves, and any other leaf its document has. */
export function settingsOf(document: JsonObject, fields: SchemaField[]): Setting[] {
  const described = fields.filter((field) => field.type !== 'object' && field.pointer !== '');
  const byPointer = new Map(described.map((field) => [field.pointer, field]));
  const pointers = [...described.map((field) => field.pointer), ...leaves(document).map((leaf) => leaf.pointer).filter((pointer) => !byPointer.has(pointer))];
  return pointers.sort().map((pointer) => ({ pointer, field: byPointer.get(pointer), value: valueAt(document, pointer) }));
}

export function bounds(field: SchemaField | undefined): string {
  if (!field) return '';
  const parts: string[] = [];
  if (field.minimum !== null) parts.push(`≥ ${field.minimum}`);
  if (field.exclusiveMinimum !== null) parts.push(`> ${field.exclusiveMinimum}`);
  if (field.maximum !== null) parts.push(`≤ ${field.maximum}`);
  if (field.exclusiveMaximum !== null) parts.push(`< ${field.exclusiveMaximum}`);
  if (field.allowed) parts.push(`one of ${field.allowed.map((value) => JSON.stringify(value)).join(', ')}`);
  return parts.join(', ');
}

