import type { graphql as typed } from './generated/gql.ts';

// The documents the console sends, checked against schema.graphql and typed by graphql-codegen (codegen.ts)
// into src/console/generated. The console takes only the generated types: graphql() returns the text as
// written (the generated one would add each document to the bundle twice more), so no fragments here.
const graphql = ((source: string) => source) as unknown as typeof typed;

export const ViewerQuery = graphql(`query ConsoleViewer { viewer { name role services environments } }`);

// A page of 40 configs keeps the query well under the hub's cost limit; the filters are the API's own.
export const ServicesQuery = graphql(`query ConsoleServices($after: String, $nameContains: String, $environment: String) {
  configs(first: 40, after: $after, nameContains: $nameContains, environment: $environment, includeDeleted: true) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      service environment version updatedAt updatedBy deletedAt
      history(first: 1) { edges { node { reason } } }
      instances { status appliedVersion rejectedVersion }
    } }
  }
}`);

export const EveryChange = graphql(`subscription ConsoleEveryChange { configsChanged { service environment version } }`);

export const ConfigQuery = graphql(`query ConsoleConfig($service: String!, $environment: String!) {
  config(service: $service, environment: $environment) {
    __typename
    ... on ServiceConfig {
      version config description updatedAt updatedBy
      instances { instance status appliedVersion rejectedVersion error reportedAt }
      overrides { id version settings expiresAt createdBy reason }
      rollout { id stableVersion candidateVersion steps stepIndex percent nextStepAt bakeSeconds maxErrors createdBy
                instances { instance inStep servedVersion status appliedVersion rejectedVersion error } }
    }
    ... on Error { message }
  }
  configSchema(service: $service) { version fields { pointer type description default minimum maximum exclusiveMinimum exclusiveMaximum allowed required } }
  configBlame(service: $service, environment: $environment) { __typename ... on ConfigBlame { settings { pointer version changedBy changedAt reason } } }
}`);

export const ConfigChanged = graphql(`subscription ConsoleConfigChanged($service: String!, $environment: String!) {
  configChanged(service: $service, environment: $environment) { version }
}`);

export const RolloutChanged = graphql(`subscription ConsoleRolloutChanged($service: String!, $environment: String!) {
  rolloutChanged(service: $service, environment: $environment) { id state stepIndex }
}`);

export const DeletedQuery = graphql(`query ConsoleDeleted($service: String!, $environment: String!) {
  configs(first: 1, nameContains: $service, environment: $environment, includeDeleted: true) { edges { node { service version deletedAt updatedBy } } }
}`);

export const RestoreMutation = graphql(`mutation ConsoleRestore($input: ConfigLifecycleInput!) { restoreConfig(input: $input) { __typename ... on Error { message } } }`);

export const HistoryQuery = graphql(`query ConsoleHistory($service: String!, $environment: String!) {
  configHistory(service: $service, environment: $environment, first: 50) {
    edges { node { version action changedBy changedAt reason patch(limit: 12) { op path } patchOperationCount } }
  }
}`);

export const CompareQuery = graphql(`query ConsoleCompare($service: String!, $environment: String!, $from: Int!, $to: Int!) {
  configDiff(service: $service, environment: $environment, fromVersion: $from, toVersion: $to) { __typename ... on ConfigDiff { operations(limit: 500) { op path value } } ... on Error { message } }
  configVersion(service: $service, environment: $environment, version: $from) { __typename ... on ConfigChange { newConfig } }
}`);

export const RollbackPreview = graphql(`mutation ConsoleRollbackPreview($input: RollbackConfigInput!) {
  rollbackConfig(input: $input) { __typename ... on ConfigWrite { diff(limit: 500) { op path value } } ... on Error { message } }
}`);

export const RollbackMutation = graphql(`mutation ConsoleRollback($input: RollbackConfigInput!) { rollbackConfig(input: $input) { __typename ... on ConfigWrite { config { version } request { id } } ... on Error { message } } }`);

export const WriteMutation = graphql(`mutation ConsoleWrite($input: UpdateConfigInput!) {
  updateConfig(input: $input) {
    __typename
    ... on ConfigWrite { changed config { version } diff(limit: 500) { op path value } request { id requiredApprovals } }
    ... on ValidationError { issues { pointer message } }
    ... on SecretRejectedError { issues { pointer message } advice }
    ... on VersionConflictError { currentVersion }
    ... on Error { message }
  }
}`);

/** Open change requests: all the caller may see, or one config's. */
export const ChangeRequestsQuery = graphql(`query ConsoleChangeRequests($service: String, $environment: String) {
  changeRequests(service: $service, environment: $environment) {
    id service environment author reason requiredApprovals approvals baseVersion createdAt expiresAt
    diff(limit: 200) { op path value } rebase { currentVersion clean detail }
  }
}`);

export const ReviewMutation = graphql(`mutation ConsoleReview($input: ReviewChangeRequestInput!) { reviewChangeRequest(input: $input) { __typename ... on Error { message } } }`);

export const PromoteRollout = graphql(`mutation ConsolePromoteRollout($input: RolloutActionInput!) { promoteRollout(input: $input) { __typename ... on Error { message } } }`);

export const AbortRollout = graphql(`mutation ConsoleAbortRollout($input: RolloutActionInput!) { abortRollout(input: $input) { __typename ... on Error { message } } }`);

export const TokensQuery = graphql(`query ConsoleTokens { tokens { id name prefix role services environments expiresAt lastUsedAt revokedAt } }`);

export const CreateToken = graphql(`mutation ConsoleCreateToken($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreatedToken { token } ... on Error { message } } }`);

export const RevokeToken = graphql(`mutation ConsoleRevoke($input: RevokeTokenInput!) { revokeToken(input: $input) { __typename ... on Error { message } } }`);
