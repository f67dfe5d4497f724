import { type Command, intOption, takeArgs } from '../command.ts';
import { expectType, request } from '../connection.ts';
import { ConfigAtVersion, GetConfig } from '../operations.ts';
import { shortTime } from '../output.ts';

export const getCommand: Command = {
  name: 'get',
  usage: 'get <service> [--version N]',
  summary: 'print the config of a service (its live version, or the content at --version): the document alone on stdout',
  options: { version: { type: 'string' } },
  async run(context) {
    const [service] = takeArgs(context, ['service']) as [string];
    const { environment, output } = context;
    const version = intOption(context, 'version', 1);
    if (version !== undefined) {
      const data = await request(context.hub(), ConfigAtVersion, { service, environment, version });
      const change = expectType(data.configVersion, 'ConfigChange');
      output.note(output.paint(`${service} (${environment}) at version ${change.version}, written ${shortTime(change.changedAt)} by ${change.changedBy}`, 'dim'));
      output.result({ service, environment, version: change.version, config: change.newConfig, changedAt: change.changedAt, changedBy: change.changedBy }, () => JSON.stringify(change.newConfig, null, 2));
      return;
    }
    const data = await request(context.hub(), GetConfig, { service, environment });
    const { id: _id, ...config } = expectType(data.config, 'ServiceConfig');
    // The document alone on stdout (`confighub get svc > svc.json`); who wrote it when, on stderr.
    output.note(output.paint(`${service} (${environment}) version ${config.version}, updated ${shortTime(config.updatedAt)} by ${config.updatedBy}`, 'dim'));
    output.result(config, () => JSON.stringify(config.config, null, 2));
  },
};
