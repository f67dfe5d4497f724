import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type JsonObject, isJsonObject } from '@confighub/client';
import { type Command, type CommandContext, stringOption, takeArgs } from '../command.ts';
import { readDocumentFile } from '../configFile.ts';
import { writeFileAtomically } from '../files.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';
import { expectType, request } from '../connection.ts';
import { CreateConfig, CreateToken, GetConfig, GetConfigSchema, SetConfigSchema } from '../operations.ts';
import { type SchemaVersion, schemaDefaults, settingsModule } from '../settingsTypes.ts';

// `confighub init <service>`: a new service in one step, each part kept if it is already there: the
// schema, a config of the schema's defaults, a reader token scoped to the service, the typed settings
// module, and the code that wires the client.

export const initCommand: Command = {
  name: 'init',
  usage: 'init <service> --schema FILE [--out FILE] [--token-name NAME] [--no-token]',
  summary: "set up a service: its schema, a config of the schema's defaults, a reader token, typed settings and the client code",
  options: { schema: { type: 'string' }, out: { type: 'string' }, 'token-name': { type: 'string' }, 'no-token': { type: 'boolean' } },
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const schemaFile = stringOption(context, 'schema');
    if (!schemaFile) throw usageError('missing --schema FILE (the JSON Schema of the service\'s settings, JSON or YAML)');
    const schema = await readDocumentFile(schemaFile);
    if (!isJsonObject(schema)) throw usageError(`${schemaFile} must hold a JSON Schema object`);
    // Every setting needs a value before anything is written: the config starts as the schema's defaults.
    const defaults = schemaDefaults(schema);
    if (defaults.missing.length > 0) {
      throw new CliError(`${schemaFile} gives no default for ${defaults.missing.join(', ')}: the new config starts from the schema's defaults`, ExitCode.USAGE, 'NO_DEFAULT');
    }
    const out = stringOption(context, 'out') ?? `${service}.settings.ts`;
    // Types the schema cannot give fail here, before anything is written.
    await settingsModule({ service, version: 0, schema }).catch((error: Error) => {
      throw new CliError(`cannot generate types from ${schemaFile}: ${error.message}`, ExitCode.USAGE, 'SCHEMA_UNSUPPORTED');
    });
    const hub = context.hub();

    // The module is written from the schema as the hub keeps it (key order and all), so that `types --check` agrees.
    const stored = await ensureSchema(context, service, schema);
    const schemaVersion = stored.version;
    const configVersion = await ensureConfig(context, service, defaults.value);
    const token = context.options['no-token'] ? null : await createReaderToken(context, service, stringOption(context, 'token-name') ?? `${service}-reader`);
    await writeFileAtomically(out, await settingsModule(stored));
    output.note(`wrote ${out}: the settings type, the schema and its defaults (confighub types ${service} --out ${out} after the schema changes)`);

    const wiring = clientCode(service, environment, hub.url, out);
    output.result({ service, environment, schemaVersion, configVersion, token, settingsFile: out, code: wiring }, () =>
      [
        token ? `# The service's environment (the token is shown this once):\nexport CONFIGHUB_URL=${hub.url}\nexport CONFIGHUB_TOKEN=${token}\n` : '',
        '# npm install @confighub/client   then, in the service:',
        wiring,
      ].join('\n'),
    );
  },
};

/** The service's schema on the hub: `schema`, set now unless it is there already. */
async function ensureSchema(context: CommandContext, service: string, schema: JsonObject): Promise<SchemaVersion> {
  const stored = async () => (await request(context.hub(), GetConfigSchema, { service })).configSchema;
  const configSchema = await stored();
  if (configSchema) {
    if (isDeepStrictEqual(configSchema.schema, schema)) {
      context.output.note(`${service} already has this schema (version ${configSchema.version})`);
      return { service, version: configSchema.version, schema: configSchema.schema as JsonObject };
    }
    throw new CliError(
      `${service} already has a different schema (version ${configSchema.version}): change it with confighub schema set ${service} <file>`,
      ExitCode.CONFLICT,
      'SCHEMA_EXISTS',
    );
  }
  const input = { service, schema, reason: 'confighub init' };
  const written = expectType((await request(context.hub(), SetConfigSchema, { input })).setConfigSchema, 'ConfigSchema');
  context.output.note(`set ${service}'s schema (version ${written.version})`);
  const now = await stored();
  if (!now) throw new CliError(`${service}'s schema was set but cannot be read back`, ExitCode.NOT_FOUND, 'NOT_FOUND');
  return { service, version: now.version, schema: now.schema as JsonObject };
}

async function ensureConfig(context: CommandContext, service: string, config: Record<string, unknown>): Promise<number> {
  const { environment } = context;
  const existing = (await request(context.hub(), GetConfig, { service, environment })).config;
  if (existing?.__typename === 'ServiceConfig') {
    context.output.note(`${service} (${environment}) already has a config (version ${existing.version}): kept as it is`);
    return existing.version;
  }
  const input = { service, environment, config, reason: 'confighub init: the schema\'s defaults' };
  const write = expectType((await request(context.hub(), CreateConfig, { input })).createConfig, 'ConfigWrite');
  context.output.note(`created ${service} (${environment}) from the schema's defaults (version ${write.config.version})`);
  return write.config.version;
}

/** A new reader token for the service; null (with a note) when one of that name exists, as on a second init. */
async function createReaderToken(context: CommandContext, service: string, name: string): Promise<string | null> {
  const input = { name, role: 'READER' as const, services: [service], environments: [context.environment] };
  const { createToken } = await request(context.hub(), CreateToken, { input });
  if (createToken.__typename === 'ValidationError' && createToken.issues.some((issue) => issue.pointer === '/name')) {
    context.output.note(`a token named "${name}" exists already: kept (tokens are shown once; --token-name NAME makes another)`);
    return null;
  }
  const created = expectType(createToken, 'CreatedToken');
  context.output.note(`created token "${name}": READER of ${service} (${context.environment})`);
  return created.token;
}

/** The code a service pastes: its client, typed by the generated module. */
function clientCode(service: string, environment: string, url: string, settingsFile: string): string {
  const module = `./${path.basename(settingsFile).replace(/\.ts$/, '.js')}`;
  return `import { ConfigClient } from '@confighub/client';
import { type Settings, defaults } from '${module}';

export const config = new ConfigClient<Settings>({
  service: ${JSON.stringify(service)},
  environment: process.env.CONFIGHUB_ENVIRONMENT ?? ${JSON.stringify(environment)},
  hub: { url: process.env.CONFIGHUB_URL ?? ${JSON.stringify(url)}, token: process.env.CONFIGHUB_TOKEN },
  defaults,
});
config.start();
// Runs at once on the last snapshot or the defaults; waits up to 3 s for the hub's version.
await config.ready(3_000).catch((error: Error) => console.warn(\`confighub: \${error.message}; running on \${config.status.source}\`));
config.onChange((next, previous, changedPaths) => console.log('settings changed', changedPaths));
`;
}
