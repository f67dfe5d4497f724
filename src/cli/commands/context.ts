import { type Command, stringOption } from '../command.ts';
import { contextsPath, readContexts, writeContexts } from '../contexts.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';
import { table } from '../output.ts';

export const contextCommand: Command = {
  name: 'context',
  usage: 'context list | context use <name> | context set <name> --url URL [--token T] [-e ENV] | context delete <name>',
  summary: 'named hubs (kept in ~/.config/confighub/contexts.json, or CONFIGHUB_CONFIG): list, switch, add, remove',
  actions: ['list', 'use', 'set', 'delete'],
  async run(context) {
    const [action, name, ...rest] = context.args;
    if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`);
    const { output } = context;
    const file = readContexts();
    const known = (wanted: string | undefined) => {
      if (!wanted) throw usageError('missing <name>');
      if (!file.contexts[wanted]) throw new CliError(`no context "${wanted}" (confighub context list)`, ExitCode.NOT_FOUND, 'NOT_FOUND');
      return wanted;
    };
    switch (action) {
      case undefined:
      case 'list': {
        if (name) throw usageError(`unexpected argument "${name}"`);
        const rows = Object.entries(file.contexts).map(([key, hub]) => ({ name: key, current: key === file.current, url: hub.url, environment: hub.environment ?? null, token: hub.token ? 'set' : null }));
        output.result({ file: contextsPath(), current: file.current ?? null, contexts: rows }, () =>
          rows.length === 0
            ? `no contexts (confighub context set <name> --url URL)`
            : table(['', 'NAME', 'URL', 'ENVIRONMENT', 'TOKEN'], rows.map((row) => [row.current ? '*' : '', row.name, row.url, row.environment ?? '', row.token ?? ''])),
        );
        return;
      }
      case 'use': {
        file.current = known(name);
        await writeContexts(file);
        output.result({ current: file.current }, () => `using context "${file.current}" (${file.contexts[file.current!]!.url})`);
        return;
      }
      case 'set': {
        if (!name) throw usageError('missing <name>');
        const url = stringOption(context, 'url') ?? file.contexts[name]?.url;
        if (!url || !/^https?:\/\//.test(url)) throw usageError('context set needs --url http(s)://...');
        const token = stringOption(context, 'token') ?? file.contexts[name]?.token;
        const environment = stringOption(context, 'env') ?? file.contexts[name]?.environment;
        file.contexts[name] = { url, ...(token ? { token } : {}), ...(environment ? { environment } : {}) };
        file.current ??= name;
        await writeContexts(file);
        output.result({ name, url, environment: environment ?? null, current: file.current === name }, () => `context "${name}": ${url}${file.current === name ? ' (in use)' : ''}`);
        return;
      }
      case 'delete': {
        const gone = known(name);
        delete file.contexts[gone];
        if (file.current === gone) delete file.current;
        await writeContexts(file);
        output.result({ deleted: gone }, () => `deleted context "${gone}"`);
        return;
      }
      default:
        throw usageError(`context needs "list", "use", "set" or "delete", not "${action}"`);
    }
  },
};
