import type { Command } from '../command.ts';
import { usageError } from '../errors.ts';

export const tokensCommand: Command = {
  name: 'tokens',
  usage: 'tokens create <name> --role READER|EDITOR|ADMIN [--services a,b] [--environments x,y] [--expires-at ISO] | tokens list | tokens revoke <name>',
  summary: 'create, list and revoke API tokens (admin)',
  async run() {
    throw usageError('tokens: not available yet');
  },
};
