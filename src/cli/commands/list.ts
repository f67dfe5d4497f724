import { type Command, takeArgs } from '../command.ts';
import { listConfigs } from '../configFile.ts';
import { shortTime, table } from '../output.ts';

export const listCommand: Command = {
  name: 'list',
  usage: 'list',
  summary: 'list the configs of an environment',
  async run(context) {
    takeArgs(context, []);
    const { environment, output } = context;
    const configs = await listConfigs(context.hub(), environment);
    output.result(configs, () =>
      configs.length === 0
        ? `no configs in ${environment}`
        : table(['SERVICE', 'VERSION', 'UPDATED', 'DESCRIPTION'], configs.map((config) => [config.service, String(config.version), shortTime(config.updatedAt), config.description ?? ''])),
    );
  },
};
