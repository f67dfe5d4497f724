import { type Command, expectedVersionOption, intOption, reasonOption, stringOption } from '../command.ts';
import { readDocumentFile } from '../configFile.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';
import { expectType, request } from '../connection.ts';
import { isJsonObject } from '@confighub/client';
import { GetConfigSchema, SetConfigSchema } from '../operations.ts';
import { shortTime } from '../output.ts';

export const schemaCommand: Command = {
  name: 'schema',
  usage: 'schema get <service> [--version N] | schema set <service> <file|-> [--expected-version N] [--reason R]',
  summary: "read or replace a service's JSON Schema (every write of its configs is checked against it)",
  actions: ['get', 'set'],
  options: { ...reasonOption, ...expectedVersionOption, version: { type: 'string' } },
  async run(context) {
    const [action, service, file, ...rest] = context.args;
    const { output } = context;
    if (action !== 'get' && action !== 'set') throw usageError(`schema needs "get" or "set", not ${action ? `"${action}"` : 'nothing'}`);
    if (!service) throw usageError('missing <service>');
    if (action === 'get') {
      if (file !== undefined) throw usageError(`unexpected argument "${file}"`);
      const version = intOption(context, 'version', 1);
      const { configSchema } = await request(context.hub(), GetConfigSchema, { service, version });
      if (!configSchema) {
        throw new CliError(version ? `${service} has no schema version ${version}` : `${service} has no schema`, ExitCode.NOT_FOUND, 'NOT_FOUND');
      }
      // The document alone on stdout, so that `schema get s > s.json`, edit, `schema set s s.json` works.
      output.note(`${service} schema version ${configSchema.version}, written ${shortTime(configSchema.createdAt)} by ${configSchema.createdBy}`);
      output.result(configSchema, () => JSON.stringify(configSchema.schema, null, 2));
      return;
    }
    if (!file) throw usageError('missing <file> (a JSON Schema document, or - for stdin)');
    if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`);
    const schema = await readDocumentFile(file);
    if (!isJsonObject(schema)) throw usageError(`${file} must hold a JSON Schema object`);
    const input = { service, schema, expectedVersion: intOption(context, 'expected-version'), reason: stringOption(context, 'reason') };
    const { setConfigSchema } = await request(context.hub(), SetConfigSchema, { input });
    const written = expectType(setConfigSchema, 'ConfigSchema');
    output.result(written, () => `${service}: schema version ${written.version}`);
  },
};
