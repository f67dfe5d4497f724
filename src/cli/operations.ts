import { graphql } from './generated/gql.ts';

// The operations the CLI sends (the tests use them too), typed by graphql-codegen (codegen.ts) into
// src/cli/generated: the CLI talks to the hub through the client's public API (hubRequest) alone.

export const ServiceConfigFields = graphql(`
  fragment ServiceConfigFields on ServiceConfig {
    id
    service
    environment
    version
    config
    description
    updatedAt
    updatedBy
  }
`);

/** What a result union's failure carries: failureToError (errors.ts) turns it into the CLI's exit code. */
export const Failure = graphql(`
  fragment CliFailure on Error {
    message
    ... on VersionConflictError { currentVersion expectedVersion }
    ... on ValidationError { issues { pointer message } }
    ... on SecretRejectedError { issues { pointer message } }
  }
`);

export const GetConfig = graphql(`
  query GetConfig($service: String!, $environment: String) {
    config(service: $service, environment: $environment) {
      __typename
      ...ServiceConfigFields
      ...CliFailure
    }
  }
`);

export const UpdateConfig = graphql(`
  mutation UpdateConfig($input: UpdateConfigInput!) {
    updateConfig(input: $input) {
      __typename
      ... on ConfigWrite {
        previousVersion
        changed
        dryRun
        diff(limit: 100) { op path from value }
        diffOperationCount
        config { ...ServiceConfigFields }
        change { revision version action changedBy reason }
        override { id expiresAt settings }
        request { id requiredApprovals expiresAt }
        rollout { id steps bakeSeconds stableVersion candidateVersion }
      }
      ...CliFailure
    }
  }
`);

export const RollbackConfig = graphql(`
  mutation RollbackConfig($input: RollbackConfigInput!) {
    rollbackConfig(input: $input) {
      __typename
      ... on ConfigWrite {
        previousVersion
        dryRun
        diff(limit: 100) { op path from value }
        diffOperationCount
        config { ...ServiceConfigFields }
        change { revision version action changedBy reason }
      }
      ...CliFailure
    }
  }
`);

export const ConfigHistory = graphql(`
  query ConfigHistory($service: String!, $environment: String, $first: Int, $after: String) {
    configHistory(service: $service, environment: $environment, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges {
        node {
          revision
          version
          action
          changedBy
          changedAt
          reason
          oldConfig
          newConfig
          patch(limit: 100) { op path from value }
          patchOperationCount
        }
      }
    }
  }
`);

export const ConfigDiff = graphql(`
  query ConfigDiff($service: String!, $environment: String, $fromVersion: Int!, $toVersion: Int!, $offset: Int = 0) {
    configDiff(service: $service, environment: $environment, fromVersion: $fromVersion, toVersion: $toVersion) {
      __typename
      ... on ConfigDiff { operationCount operations(offset: $offset, limit: 1000) { op path from value } }
      ...CliFailure
    }
  }
`);

export const ListConfigs = graphql(`
  query CliListConfigs($environment: String, $first: Int, $after: String) {
    configs(environment: $environment, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { service environment version description config updatedAt updatedBy } }
    }
  }
`);

export const CreateConfig = graphql(`
  mutation CliCreateConfig($input: CreateConfigInput!) {
    createConfig(input: $input) {
      __typename
      ... on ConfigWrite { config { service environment version } }
      ...CliFailure
    }
  }
`);

export const DeleteConfig = graphql(`
  mutation CliDeleteConfig($input: ConfigLifecycleInput!) {
    deleteConfig(input: $input) {
      __typename
      ... on ConfigWrite { previousVersion config { service environment version } }
      ...CliFailure
    }
  }
`);

export const RestoreConfig = graphql(`
  mutation CliRestoreConfig($input: ConfigLifecycleInput!) {
    restoreConfig(input: $input) {
      __typename
      ... on ConfigWrite { previousVersion config { service environment version } }
      ...CliFailure
    }
  }
`);

export const ConfigInstances = graphql(`
  query CliConfigInstances($service: String!, $environment: String) {
    config(service: $service, environment: $environment) {
      __typename
      ... on ServiceConfig {
        version
        instances { instance status appliedVersion rejectedVersion error reportedAt }
      }
      ...CliFailure
    }
  }
`);

export const ConfigBlame = graphql(`
  query CliConfigBlame($service: String!, $environment: String) {
    configBlame(service: $service, environment: $environment) {
      __typename
      ... on ConfigBlame {
        version
        complete
        settings { pointer value version action changedBy changedAt reason }
      }
      ...CliFailure
    }
  }
`);

export const ConfigAtVersion = graphql(`
  query CliConfigAtVersion($service: String!, $environment: String, $version: Int!) {
    configVersion(service: $service, environment: $environment, version: $version) {
      __typename
      ... on ConfigChange { version changedAt changedBy reason newConfig }
      ...CliFailure
    }
  }
`);

export const GetConfigSchema = graphql(`
  query CliConfigSchema($service: String!, $version: Int) {
    configSchema(service: $service, version: $version) {
      service
      version
      schema
      createdAt
      createdBy
      reason
      fields { pointer type description default }
    }
  }
`);

export const ConfigCatalog = graphql(`
  query CliConfigCatalog($services: [String!]) {
    configCatalog(services: $services) {
      service
      version
      fields { pointer type description default required minimum maximum exclusiveMinimum exclusiveMaximum allowed }
    }
  }
`);

export const SetConfigSchema = graphql(`
  mutation CliSetConfigSchema($input: SetConfigSchemaInput!) {
    setConfigSchema(input: $input) {
      __typename
      ... on ConfigSchema { service version createdAt }
      ...CliFailure
    }
  }
`);

export const WatchConfig = graphql(`
  subscription CliWatchConfig($service: String!, $environment: String, $afterVersion: Int) {
    configChanged(service: $service, environment: $environment, afterVersion: $afterVersion) {
      service
      environment
      version
      revision
      action
      changedBy
      changedAt
      reason
      config
      patch(limit: 100) { op path from value }
      patchOperationCount
    }
  }
`);

export const ApiTokenFields = graphql(`
  fragment CliApiTokenFields on ApiToken {
    id
    name
    prefix
    role
    services
    environments
    expiresAt
    revokedAt
    createdAt
    createdBy
    lastUsedAt
  }
`);

export const ListTokens = graphql(`
  query CliListTokens {
    tokens { ...CliApiTokenFields }
  }
`);

export const CreateToken = graphql(`
  mutation CliCreateToken($input: CreateTokenInput!) {
    createToken(input: $input) {
      __typename
      ... on CreatedToken { token apiToken { ...CliApiTokenFields } }
      ...CliFailure
    }
  }
`);

export const RotateToken = graphql(`
  mutation CliRotateToken($input: RotateTokenInput!) {
    rotateToken(input: $input) {
      __typename
      ... on CreatedToken { token apiToken { ...CliApiTokenFields } }
      ...CliFailure
    }
  }
`);

export const RevokeToken = graphql(`
  mutation CliRevokeToken($input: RevokeTokenInput!) {
    revokeToken(input: $input) {
      __typename
      ...CliApiTokenFields
      ...CliFailure
    }
  }
`);

export const Viewer = graphql(`
  query CliViewer {
    viewer { name role services environments expiresAt }
  }
`);

// A request's diff: its first $diffLimit operations. A listing (at most 100 requests) asks for 10 each, so
// that it stays within the 1,000 operations one answer may carry.
export const ChangeRequestFields = graphql(`
  fragment CliChangeRequestFields on ChangeRequest {
    id service environment baseVersion state author reason requiredApprovals approvals
    createdAt expiresAt closedAt appliedVersion outcome
    diff(limit: $diffLimit) { op path from value }
    reviews { reviewer verdict comment createdAt }
    rebase { currentVersion clean detail }
  }
`);

export const ListChangeRequests = graphql(`
  query CliChangeRequests($service: String, $environment: String, $states: [ChangeRequestState!], $diffLimit: Int = 10) {
    changeRequests(service: $service, environment: $environment, states: $states) { ...CliChangeRequestFields }
  }
`);

export const GetChangeRequest = graphql(`
  query CliChangeRequest($id: String!, $diffLimit: Int = 100) {
    changeRequest(id: $id) {
      __typename
      ...CliChangeRequestFields
      ...CliFailure
    }
  }
`);

export const ReviewChangeRequest = graphql(`
  mutation CliReviewChangeRequest($input: ReviewChangeRequestInput!, $diffLimit: Int = 100) {
    reviewChangeRequest(input: $input) {
      __typename
      ...CliChangeRequestFields
      ...CliFailure
    }
  }
`);

export const WithdrawChangeRequest = graphql(`
  mutation CliWithdrawChangeRequest($input: WithdrawChangeRequestInput!, $diffLimit: Int = 100) {
    withdrawChangeRequest(input: $input) {
      __typename
      ...CliChangeRequestFields
      ...CliFailure
    }
  }
`);

export const RolloutFields = graphql(`
  fragment CliRolloutFields on Rollout {
    id service environment state stableVersion candidateVersion steps stepIndex percent bakeSeconds maxErrors
    stepStartedAt nextStepAt createdBy reason createdAt endedAt endedBy rollbackVersion outcome
    instances { instance inStep servedVersion status appliedVersion rejectedVersion error }
    events { at actor kind percent detail }
  }
`);

export const ConfigRollouts = graphql(`
  query CliConfigRollouts($service: String!, $environment: String, $first: Int) {
    config(service: $service, environment: $environment) {
      __typename
      ... on ServiceConfig { rollouts(first: $first) { ...CliRolloutFields } }
      ...CliFailure
    }
  }
`);

export const PromoteRollout = graphql(`
  mutation CliPromoteRollout($input: RolloutActionInput!) {
    promoteRollout(input: $input) {
      __typename
      ...CliRolloutFields
      ...CliFailure
    }
  }
`);

export const AbortRollout = graphql(`
  mutation CliAbortRollout($input: RolloutActionInput!) {
    abortRollout(input: $input) {
      __typename
      ...CliRolloutFields
      ...CliFailure
    }
  }
`);
