import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // .bench/ holds the benchmark's results and the baseline build's worktree (another checkout).
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.bench/**', 'src/rpc/generated/**', 'src/runtimes/*/guest/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['describe', 'it', 'test', 'suite'], package: 'node:test' }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['scripts/**', 'bench/**', 'test/**', '**/*.test.ts', 'eslint.config.js'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests read JSON answers whose shape they assert on: `any` there is the point, not a leak.
    files: ['test/**', '**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    // Guest code: plain JavaScript run inside the sandboxes (type-checked by tsconfig.guest.json).
    // bootstrap.js runs in a bare V8 context: only ECMAScript built-ins; wasi-worker.js (and its
    // wasi-preview1.js) in a worker thread.
    files: ['src/runtimes/*/guest/*.js'],
    languageOptions: { sourceType: 'script', globals: { globalThis: 'readonly' } },
  },
  {
    // The Node.js prelude's parts run in one closure (src/runtimes/nodejs/nodejs-runtime.ts,
    // guestPrelude): their top-level names are shared, which only the type-check
    // (tsconfig.guest.json) sees whole, so it checks the names; here top-level ones are not "unused".
    files: ['src/runtimes/nodejs/guest/*.js'],
    rules: { 'no-undef': 'off', '@typescript-eslint/no-unused-vars': ['error', { vars: 'local', argsIgnorePattern: '^_' }], 'no-unused-vars': 'off' },
  },
  {
    // The Node.js guest's platform (src/runtimes/nodejs/platform/): ES modules bundled by esbuild
    // into the prelude; `require` is esbuild's, and loads a module on first use (lazily).
    files: ['src/runtimes/nodejs/platform/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { require: 'readonly', queueMicrotask: 'readonly', setTimeout: 'readonly', LAMBDA_NODE_VERSION: 'readonly', LAMBDA_UNAVAILABLE_BUILTINS: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-control-regex': 'off' },
  },
  {
    files: ['src/runtimes/rust/guest/wasi-worker.js', 'src/runtimes/rust/guest/wasi-preview1.js'],
    languageOptions: { sourceType: 'module', globals: { WebAssembly: 'readonly', performance: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', SharedArrayBuffer: 'readonly', Atomics: 'readonly', process: 'readonly', URL: 'readonly', crypto: 'readonly' } },
  },
);
