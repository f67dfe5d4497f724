import { graphql } from './generated/gql.ts';

// The operations the client library and the tests send, typed by graphql-codegen (codegen.ts).

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

export const GetConfig = graphql(`
  query GetConfig($service: String!, $environment: String) {
    config(service: $service, environment: $environment) {
      __typename
      ...ServiceConfigFields
      ... on Error { message }
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
        diff { op path from value }
        config { ...ServiceConfigFields }
        change { revision version action changedBy reason }
      }
      ... on VersionConflictError { currentVersion expectedVersion }
      ... on ValidationError { issues { pointer message } }
      ... on Error { message }
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
        diff { op path from value }
        config { ...ServiceConfigFields }
        change { revision version action changedBy reason }
      }
      ... on VersionConflictError { currentVersion expectedVersion }
      ... on Error { message }
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
          patch { op path from value }
        }
      }
    }
  }
`);

export const ConfigDiff = graphql(`
  query ConfigDiff($service: String!, $environment: String, $fromVersion: Int!, $toVersion: Int!) {
    configDiff(service: $service, environment: $environment, fromVersion: $fromVersion, toVersion: $toVersion) {
      __typename
      ... on ConfigDiff { operations { op path from value } }
      ... on Error { message }
    }
  }
`);

// ConfigClient: the config it runs, its live changes and its report to the hub.

export const ClientConfig = graphql(`
  query ClientConfig($service: String!, $environment: String) {
    config(service: $service, environment: $environment) {
      __typename
      ... on ServiceConfig { version config }
      ... on Error { message }
    }
  }
`);

export const ClientConfigChanged = graphql(`
  subscription ClientConfigChanged($service: String!, $environment: String, $afterVersion: Int) {
    configChanged(service: $service, environment: $environment, afterVersion: $afterVersion) {
      service
      environment
      version
      action
      config
    }
  }
`);

export const ReportInstance = graphql(`
  mutation ReportInstance($input: ReportInstanceInput!) {
    reportInstance(input: $input) {
      __typename
      ... on ConfigInstance { instance status appliedVersion reportedAt }
      ... on Error { message }
    }
  }
`);

export const ConfigInstances = graphql(`
  query ConfigInstances($service: String!, $environment: String) {
    config(service: $service, environment: $environment) {
      __typename
      ... on ServiceConfig {
        version
        instances { instance status appliedVersion rejectedVersion error firstSeenAt reportedAt }
      }
      ... on Error { message }
    }
  }
`);
