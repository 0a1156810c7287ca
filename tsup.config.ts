import { defineConfig } from 'tsup'

export default defineConfig({
  // The library (ESM and CJS, with types) and the `cachelink` command (ESM; bin/cachelink.js
  // loads it). Code both use goes to a shared chunk in the ESM build.
  entry: { index: 'ts/index.ts', cli: 'ts/cli/main.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'ts/index.ts' } },
  shims: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  sourcemap: false,
})
