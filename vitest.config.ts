import { defineConfig } from 'vitest/config'

// platform.spec.ts is NTFS and APFS, for real: it runs on Windows and macOS (the GitHub
// workflows), and is left out elsewhere rather than counted as skipped.
const elsewhere = process.platform === 'win32' || process.platform === 'darwin' ? [] : ['__test__/platform.spec.ts']

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.ts'],
    exclude: ['**/node_modules/**', ...elsewhere],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
})
