// The layering of src/ (see the README's "How the code is laid out"), checked by `npm test`.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'services-know-no-protocol',
      comment: 'Shared services give findings, never verdicts in a protocol: they import no adapter, pipeline or admin code.',
      severity: 'error',
      from: { path: '^src/services/' },
      to: { path: '^src/(adapters|pipeline|admin)/' },
    },
    {
      name: 'pipeline-is-protocol-neutral',
      comment: 'The gate and its steps know no protocol.',
      severity: 'error',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/adapters/' },
    },
    {
      name: 'adapters-stand-alone',
      comment: 'An adapter never imports another adapter; shared protocol mechanics live in src/adapters/kit/.',
      severity: 'error',
      from: { path: '^src/adapters/([^/]+)/' },
      to: { path: '^src/adapters/([^/]+)/', pathNot: ['^src/adapters/$1/', '^src/adapters/kit/'] },
    },
    {
      name: 'kit-serves-adapters',
      comment: 'The kit is shared by adapters, so it imports none of them.',
      severity: 'error',
      from: { path: '^src/adapters/kit/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/kit/' },
    },
    {
      name: 'config-imports-nothing-of-ours',
      comment: 'The config contract is validated at the boundary and depends on nothing else in src/.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/config/' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
