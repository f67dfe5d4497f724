import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the operations the client and the tests use, generated from the committed
// schema.graphql (run by `npm install`, or `npm run codegen`).
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['src/client/operations.ts', 'src/cli/operations.ts'],
  ignoreNoDocuments: false,
  generates: {
    'src/client/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        emitLegacyCommonJSImports: false,
        scalars: { JSON: 'unknown', JSONObject: 'Record<string, unknown>', DateTime: 'string', SafeInt: 'number' },
      },
    },
  },
};

export default config;
