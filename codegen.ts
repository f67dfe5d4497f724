import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the operations the client, the CLI and the console send, generated from the committed
// schema.graphql (run by `npm install`, or `npm run codegen`).
const target = {
  preset: 'client',
  presetConfig: { fragmentMasking: false },
  config: {
    documentMode: 'string',
    useTypeImports: true,
    enumsAsTypes: true,
    emitLegacyCommonJSImports: false,
    scalars: { JSON: 'unknown', JSONObject: 'Record<string, unknown>', DateTime: 'string', SafeInt: 'number' },
  },
} as const;

const config: CodegenConfig = {
  schema: 'schema.graphql',
  ignoreNoDocuments: false,
  generates: {
    // Each consumer its own typed documents: ConfigClient's, and the CLI's (which uses the client's public API).
    'src/client/generated/': { documents: ['src/client/operations.ts'], ...target },
    'src/cli/generated/': { documents: ['src/cli/operations.ts'], ...target },
    // The console's JSON values are the hub's JSON types (src/console/json.ts), as its views show them.
    'src/console/generated/': {
      documents: ['src/console/operations.ts'],
      ...target,
      config: { ...target.config, scalars: { ...target.config.scalars, JSON: '../json.ts#Json', JSONObject: '../json.ts#JsonObject' } },
    },
  },
};

export default config;
