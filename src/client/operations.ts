import { graphql } from './generated/gql.ts';

// The operations ConfigClient sends (the config it runs, its live changes, its report to the hub),
// typed by graphql-codegen (codegen.ts).

export const ClientConfig = graphql(`
  query ClientConfig($service: String!, $environment: String, $instance: String) {
    config(service: $service, environment: $environment, instance: $instance) {
      __typename
      ... on ServiceConfig { version config }
      ... on Error { message }
    }
  }
`);

export const ClientConfigChanged = graphql(`
  subscription ClientConfigChanged($service: String!, $environment: String, $afterVersion: Int, $instance: String) {
    configChanged(service: $service, environment: $environment, afterVersion: $afterVersion, instance: $instance) {
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
