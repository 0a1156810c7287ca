import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { defineConfig } from 'tsup'
import type { Plugin } from 'esbuild'

/** The CLI's own libraries: dev dependencies, bundled into dist/cli.js, never installed by users. */
const bundled = ['commander', 'cli-progress']
const licenses = 'cli.THIRD-PARTY-LICENSES.txt'

/**
 * Writes dist/cli.THIRD-PARTY-LICENSES.txt: name, version, license and license text of every
 * package esbuild put into the CLI bundle (commander, cli-progress and cli-progress's
 * string-width and its dependencies), read from the build's metafile so the list cannot go stale.
 */
const thirdPartyLicenses: Plugin = {
  name: 'third-party-licenses',
  setup(build) {
    build.onEnd((result) => {
      if (!result.metafile) return
      const dirs = new Set<string>()
      for (const input of Object.keys(result.metafile.inputs)) {
        const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)
        if (m) dirs.add(m[1])
      }
      const sections = [...dirs].sort().map((dir) => {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
        const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f))
        if (!file) throw new Error(`${pkg.name} is bundled into the CLI but has no license file`)
        const text = readFileSync(join(dir, file), 'utf8').trim()
        return `${pkg.name}@${pkg.version} (${pkg.license})\n\n${text}\n`
      })
      const head = 'dist/cli.js bundles these packages. Their licenses follow.\n'
      writeFileSync(join('dist', licenses), [head, ...sections].join(`\n${'-'.repeat(72)}\n\n`))
    })
  },
}

export default defineConfig([
  {
    // The library, ESM and CJS with types. Its only runtime dependency is node-gyp-build, which
    // the loader requires at run time (for prebuilds/), so it stays external.
    entry: { index: 'ts/index.ts' },
    format: ['esm', 'cjs'],
    dts: { entry: { index: 'ts/index.ts' } },
    shims: true,
    // The two builds share dist/: each removes only what is not the other's.
    clean: ['!cli.js', `!${licenses}`, '!pnpm.*'],
    target: 'node20',
    platform: 'node',
    sourcemap: false,
  },
  {
    // `cachelink/pnpm` (ts/pnpm.ts): a complete pnpmfile, which pnpm `require`s, so CJS (and ESM)
    // with types. Its own build, so it shares no chunk with the library's: one self-contained file
    // per format (the addon is loaded once per process all the same).
    entry: { pnpm: 'ts/pnpm.ts' },
    format: ['esm', 'cjs'],
    dts: { entry: { pnpm: 'ts/pnpm.ts' } },
    shims: true,
    clean: ['!index.*', '!cli.js', `!${licenses}`],
    target: 'node20',
    platform: 'node',
    sourcemap: false,
  },
  {
    // The `cachelink` command (bin/cachelink.js loads it): one ESM file with the library code,
    // commander and cli-progress in it.
    entry: { cli: 'ts/cli/main.ts' },
    format: ['esm'],
    noExternal: bundled,
    // cli-progress is CommonJS and requires Node's events and readline; in an ES module
    // esbuild's require shim needs a real `require` in scope.
    banner: {
      js: [
        `// Bundles ${bundled.join(' and ')} (MIT) and their dependencies: licenses in ${licenses}.`,
        "import { createRequire as __cachelinkCreateRequire } from 'node:module'",
        'const require = __cachelinkCreateRequire(import.meta.url)',
      ].join('\n'),
    },
    esbuildPlugins: [thirdPartyLicenses],
    clean: ['!index.*', '!pnpm.*'],
    target: 'node20',
    platform: 'node',
    sourcemap: false,
  },
])
