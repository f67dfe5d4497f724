import { readFile } from 'node:fs/promises';
import { isJsonObject } from '@confighub/client';
import { type Command, intOption, stringOption, takeArgs } from '../command.ts';
import { writeFileAtomically } from '../files.ts';
import { CliError, ExitCode } from '../errors.ts';
import { request } from '../connection.ts';
import { GetConfigSchema } from '../operations.ts';
import { settingsModule } from '../settingsTypes.ts';

export const typesCommand: Command = {
  name: 'types',
  usage: 'types <service> [--version N] [--out FILE | --check FILE]',
  summary: "write the TypeScript settings module (type, schema, defaults) generated from a service's schema",
  options: { version: { type: 'string' }, out: { type: 'string' }, check: { type: 'string' } },
  async run(context) {
    const [service] = takeArgs(context, ['service']);
    const { output } = context;
    const out = stringOption(context, 'out');
    const check = stringOption(context, 'check');
    if (out !== undefined && check !== undefined) throw new CliError('--out and --check: give one', ExitCode.USAGE, 'USAGE');
    const version = intOption(context, 'version', 1);
    const { configSchema } = await request(context.hub(), GetConfigSchema, { service: service!, version });
    if (!configSchema) {
      throw new CliError(version ? `${service} has no schema version ${version}` : `${service} has no schema (confighub schema set ${service} <file>)`, ExitCode.NOT_FOUND, 'NOT_FOUND');
    }
    if (!isJsonObject(configSchema.schema)) throw new CliError(`${service}'s schema is not a JSON object`, ExitCode.USAGE, 'USAGE');
    let text: string;
    try {
      text = await settingsModule({ service: service!, version: configSchema.version, schema: configSchema.schema });
    } catch (error) {
      throw new CliError(`cannot generate types from ${service}'s schema version ${configSchema.version}: ${(error as Error).message}`, ExitCode.USAGE, 'SCHEMA_UNSUPPORTED');
    }
    const summary = { service: service!, schemaVersion: configSchema.version };
    if (check !== undefined) {
      const current = await readFile(check, 'utf8').catch(() => null);
      if (current !== text) {
        throw new CliError(
          `${check} is ${current === null ? 'missing' : 'out of date'}: ${service}'s schema is at version ${configSchema.version}`,
          ExitCode.OUT_OF_DATE,
          'OUT_OF_DATE',
          [`run: confighub types ${service} --out ${check}`],
        );
      }
      output.result({ ...summary, file: check, upToDate: true }, () => `${check} is up to date with ${service}'s schema version ${configSchema.version}`);
      return;
    }
    if (out === undefined) {
      process.stdout.write(text);
      return;
    }
    await writeFileAtomically(out, text);
    output.result({ ...summary, file: out }, () => `wrote ${out} from ${service}'s schema version ${configSchema.version}`);
  },
};
