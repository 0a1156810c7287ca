import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['ts/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  shims: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  sourcemap: false,
})
