import type { Command } from '../command.ts';
import { request } from '../connection.ts';
import { CliError, ExitCode } from '../errors.ts';
import type { CliConfigCatalogQuery } from '../generated/graphql.ts';
import { ConfigCatalog } from '../operations.ts';
import { compact, settingName, table } from '../output.ts';

type Field = CliConfigCatalogQuery['configCatalog'][number]['fields'][number];


function bounds(field: Field): string {
  const parts: string[] = [];
  if (field.minimum !== null) parts.push(`>= ${field.minimum}`);
  if (field.exclusiveMinimum !== null) parts.push(`> ${field.exclusiveMinimum}`);
  if (field.maximum !== null) parts.push(`<= ${field.maximum}`);
  if (field.exclusiveMaximum !== null) parts.push(`< ${field.exclusiveMaximum}`);
  if (field.allowed) parts.push(`one of ${field.allowed.map(compact).join(', ')}`);
  return parts.join(', ');
}

export const catalogCommand: Command = {
  name: 'catalog',
  usage: 'catalog [service ...]',
  summary: "each service's settings from its schema: type, default, bounds and description",
  async run(context) {
    const services = context.args.length > 0 ? context.args : undefined;
    const { configCatalog } = await request(context.hub(), ConfigCatalog, { services });
    if (services && configCatalog.length === 0) throw new CliError(`no schema for ${services.join(', ')}`, ExitCode.NOT_FOUND, 'NOT_FOUND');
    context.output.result(configCatalog, () =>
      configCatalog.length === 0
        ? 'no service has a schema yet (confighub schema set <service> <file>, or confighub init)'
        : configCatalog
            .map((entry) => {
              const settings = entry.fields.filter((field) => field.type !== 'object');
              return [
                `${entry.service} (schema version ${entry.version})`,
                settings.length === 0
                  ? '  (no documented settings)'
                  : table(
                      ['SETTING', 'TYPE', 'DEFAULT', 'BOUNDS', 'DESCRIPTION'],
                      settings.map((field) => [
                        `${settingName(field.pointer)}${field.required ? '' : '?'}`,
                        field.type ?? '',
                        field.default === null ? '' : compact(field.default),
                        bounds(field),
                        field.description ?? '',
                      ]),
                    ),
              ].join('\n');
            })
            .join('\n\n'),
    );
  },
};
