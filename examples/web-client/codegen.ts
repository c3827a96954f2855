import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        // An unknown scalar is an error, not a silent `any`.
        strictScalars: true,
        scalars: { DateTime: "string" },
        enumsAsTypes: true,
        useTypeImports: true,
        // Node's ES modules need the `.js` on relative imports.
        emitLegacyCommonJSImports: false,
      },
    },
  },
};

export default config;
