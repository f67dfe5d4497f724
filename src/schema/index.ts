import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.ts';
import './scalars.ts';
import './errors.ts';
import './serviceConfig.ts';
import './configChange.ts';
import './configMutations.ts';
import './configEvent.ts';
import './configSchema.ts';
import './apiToken.ts';
import './configInstance.ts';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = lexicographicSortSchema(builder.toSchema());
