import type { GraphiQLOptions } from 'graphql-yoga';

/** Example operations GraphiQL opens with; they work against the seeded pilot services. */
export const graphiqlExamples = /* GraphQL */ `# confighub: every config is versioned and audited.
#
# The docs need no token; these operations do. Paste
#   {"Authorization": "Bearer <your token>"}
# into the Headers tab below. It is never stored: a new
# tab or a reload starts without it. A local hub keeps
# its admin token in .confighub/admin-token.
#
# Pick an operation with the ▶ button.

query PilotConfig {
  config(service: "polygon-historical-downloader") {
    __typename
    ... on ServiceConfig { service environment version config updatedAt updatedBy }
    ... on Error { message }
  }
}

query AllConfigs {
  configs(first: 20) {
    totalCount
    edges { node { service environment version updatedAt } }
  }
}

mutation ChangeGapCheckInterval {
  updateConfig(input: {
    service: "polygon-historical-downloader"
    patch: { operational: { gap_check_interval_hours: 2 } }
    reason: "tighter gap checks during the backfill"
  }) {
    __typename
    ... on ConfigWrite { previousVersion config { version config } diff { op path value } }
    ... on VersionConflictError { currentVersion message }
    ... on ValidationError { issues { pointer message } }
  }
}

query History {
  configHistory(service: "polygon-historical-downloader", first: 10) {
    edges { node { version action changedBy changedAt reason patch { op path value } } }
  }
}

query DiffFirstToSecond {
  configDiff(service: "polygon-historical-downloader", fromVersion: 1, toVersion: 2) {
    __typename
    ... on ConfigDiff { operations { op path value } }
    ... on Error { message }
  }
}

mutation RollBackToFirstVersion {
  rollbackConfig(input: { service: "polygon-historical-downloader", toVersion: 1, reason: "undo" }) {
    __typename
    ... on ConfigWrite { config { version config } diff { op path value } }
    ... on Error { message }
  }
}
`;

/**
 * yoga's `graphiql` options: opened on the examples, with empty headers (a placeholder token would be
 * sent with GraphiQL's first introspection and refused) and the Headers tab showing, where a token goes.
 */
export const graphiqlOptions = {
  title: 'confighub',
  defaultQuery: graphiqlExamples,
  headers: '{}',
  defaultEditorToolsVisibility: 'headers',
  shouldPersistHeaders: false,
} satisfies GraphiQLOptions;
