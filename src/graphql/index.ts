import { lexicographicSortSchema, printSchema } from 'graphql';
import { withAnswerBudget } from './answerBudget.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import './errors.ts';
import './serviceConfig.ts';
import './configChange.ts';
import './configBlame.ts';
import './configOverride.ts';
import './changeRequest.ts';
import './rollout.ts';
import './configMutations.ts';
import './configEvent.ts';
import './configSchema.ts';
import './apiToken.ts';
import './configInstance.ts';

// Every field of Query is nullable: a field that fails is null beside the others' answers, instead of
// taking the whole `data` with it; and which errors an answer lists does not depend on which of several
// fields' database reads ended first (graphql-js stops collecting at a null that reaches the root).
builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = withAnswerBudget(builder.toSchema());

/** The schema as committed in schema.graphql: sorted, so that the file's diffs stay small (sorted only here,
 * not at every start). */
export const printedSchema = () => `${printSchema(lexicographicSortSchema(schema))}\n`;
