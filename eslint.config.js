import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Layering (ADR 0021): what each layer of functions/src may import, so a wrong-way import fails
// `npm run lint` (part of `npm test`). Matched on the import string; relative paths name layers
// by their directory (`../../ports/x.js`). functions/src/layering.test.ts proves each rule fires.
const layer = (...dirs) => `^(\\.{1,2}/)+(${dirs.join('|')})(/|\\.js$)`;
const outerLayers = ['ports', 'app', 'adapters', 'handlers', 'platform', 'cli', 'gen', 'compose'];
// SDKs that do I/O (or stand for it): never in the domain, which is pure.
const ioPackages = '^(firebase-admin|firebase-functions|@google-cloud/|@grpc/|@connectrpc/|google-gax|stripe$|@adyen/|@opentelemetry/|lru-cache$)';
// Node built-ins that do I/O. node:crypto stays allowed: the domain hashes (pure, deterministic).
const nodeIo = '^(node:)?(fs|fs/promises|net|http|https|http2|tls|dgram|dns|child_process|cluster|worker_threads|os|process|readline|vm|inspector)$';
const restrict = (...patterns) => ['error', { patterns: patterns.map(([regex, message]) => ({ regex, message })) }];
const domainMessage = 'domain/ is pure: it imports only domain/ (and pure packages), never ports, app, adapters, handlers, platform, gen or cli (ADR 0021)';

export default tseslint.config(
  { ignores: ['node_modules/', 'functions/src/gen/', '.tally/', 'dist/', 'web/dist/', 'test-results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-control-regex': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['functions/src/domain/**/*.ts'],
    ignores: ['functions/src/domain/**/*.test.ts'],
    rules: {
      'no-restricted-imports': restrict(
        [layer(...outerLayers), domainMessage],
        [ioPackages, domainMessage],
        [nodeIo, 'domain/ does no I/O: only node:crypto (hashing) among the Node built-ins (ADR 0021)'],
      ),
    },
  },
  {
    // Tests of the domain may read fixtures from disk; the layering holds for them too.
    files: ['functions/src/domain/**/*.test.ts'],
    rules: { 'no-restricted-imports': restrict([layer(...outerLayers), domainMessage], [ioPackages, domainMessage]) },
  },
  {
    files: ['functions/src/ports/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict([
        layer('app', 'adapters', 'handlers', 'platform', 'cli', 'compose'),
        'ports/ are interfaces over the domain: they import domain/ and ports/ only (ADR 0021)',
      ]),
    },
  },
  {
    files: ['functions/src/app/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict([
        layer('adapters', 'handlers', 'cli', 'compose'),
        'app/ runs on ports: it never imports adapters, handlers or the composition root (ADR 0021)',
      ]),
    },
  },
  {
    files: ['functions/src/adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': restrict([
        layer('handlers', 'cli', 'compose'),
        'adapters/ sit at the edge below the handlers: they never import handlers or the composition root (ADR 0021)',
      ]),
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
