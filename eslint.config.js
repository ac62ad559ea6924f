// ESLint (flat config): @eslint/js and typescript-eslint's recommended rules, not type-aware (the
// type-aware set costs about three times the CPU and mostly flags node:test's floating promises and
// grpc-js's untyped responses). Layout is prettier's job (.prettierrc.json), and neither set has
// layout rules left to conflict with it. Run by `npm run lint` and `npm run format` (scripts/lint.js).
'use strict';
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const { defineConfig } = require('eslint/config');

/** Node's own globals, read from the running Node, plus CommonJS's module scope. */
const nodeGlobals = {
  ...Object.fromEntries(Object.getOwnPropertyNames(globalThis).map((name) => [name, 'readonly'])),
  require: 'readonly',
  module: 'writable',
  exports: 'writable',
  __dirname: 'readonly',
  __filename: 'readonly',
};

/** What the board page (a plain browser script) uses of the browser. */
const browserGlobals = Object.fromEntries(
  [
    'window',
    'document',
    'navigator',
    'location',
    'EventSource',
    'fetch',
    'requestAnimationFrame',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'console',
    'URL',
  ].map((name) => [name, 'readonly']),
);

module.exports = defineConfig(
  {
    ignores: ['dist/', 'build/', 'src/generated/', '.dist-build-*/', 'bench/results/', 'examples/python/rigger/', 'examples/go/build/'],
  },
  js.configs.recommended,
  {
    rules: {
      // The prettier-conflicting rule eslint-config-prettier turns off: prettier decides line breaks.
      'no-unexpected-multiline': 'off',
      // Terminal text and webhook reasons are cleaned of control characters by regex on purpose.
      'no-control-regex': 'off',
      // A `let` read by a callback made before its one assignment (a subscription the callback ends) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    rules: {
      // Lazy require() inside functions keeps the CLI's start fast and better-sqlite3 optional (test/foundation/cli-lazy-load).
      '@typescript-eslint/no-require-imports': 'off',
      // `_name` marks a binding kept on purpose (a tuple slot, a property a rest pattern leaves out).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests and benchmarks read grpc-js's untyped responses and fake what they feed in; shipped code keeps the rule.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
  },
  {
    files: ['sidecars/board/*.js'],
    languageOptions: { sourceType: 'script', globals: browserGlobals },
  },
);
