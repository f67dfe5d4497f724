// A stock graphql-yoga server (createYoga + createSchema, default options) whose `config` field
// answers from a constant: the gateway's own response to the benchmark query (BENCH_RESPONSE_BODY).
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';
import { announceReady, closeServer, failStartup, listenOnLoopback, stopWhenAsked } from './child.ts';

/** The part of the gateway's schema the benchmark query selects. */
const typeDefs = /* GraphQL */ `
  scalar JSONObject
  scalar DateTime

  interface Error {
    message: String!
  }

  type NotFoundError implements Error {
    message: String!
  }

  type ServiceConfig {
    id: ID!
    service: String!
    environment: String!
    version: Int!
    config: JSONObject!
    description: String
    updatedAt: DateTime!
    updatedBy: String!
  }

  union ConfigResult = ServiceConfig | NotFoundError

  type Query {
    config(service: String!, environment: String = "production"): ConfigResult
  }
`;

try {
  const response = JSON.parse(process.env.BENCH_RESPONSE_BODY ?? '') as { data: { config: { __typename: string } } };
  // The constant keeps its __typename, which graphql-js' default type resolver uses for the union.
  const config = response.data.config;
  const yoga = createYoga({
    schema: createSchema({ typeDefs, resolvers: { Query: { config: () => config } } }),
  });
  const server = createServer(yoga);
  stopWhenAsked(() => closeServer(server));
  announceReady(await listenOnLoopback(server));
} catch (error) {
  failStartup(error);
}
