#!/usr/bin/env node
// Keep the per-platform packages in step with the main package.
//
//   node scripts/sync-npm-versions.mjs            copy the main version into every npm/*/package.json
//   node scripts/sync-npm-versions.mjs --check    change nothing; exit 1 if a version is out of step
//   node scripts/sync-npm-versions.mjs --release  also list every platform package, at that same
//                                                 version, in the main package's optionalDependencies
//   --root DIR                                    work on the package in DIR (default: this checkout)
//
// No dependencies. `--release` runs in the release job just before publishing (as `napi
// prepublish` does), and in the packing test on a staged copy: while the platform packages are
// not on the registry, an optionalDependencies entry for them makes this checkout's `npm ci`
// fail ("Missing: cachelink-...@ from lock file"), so the checkout itself never has them.

import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: { check: { type: 'boolean' }, release: { type: 'boolean' }, root: { type: 'string' } },
})
const root = args.root ? resolve(args.root) : join(dirname(fileURLToPath(import.meta.url)), '..')
const check = args.check ?? false

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))
// Same shape npm and the napi CLI write: two-space indent, trailing newline.
const writeJson = (file, value) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`)
const show = (file) => relative(root, file).split('\\').join('/')

const mainFile = join(root, 'package.json')
const main = readJson(mainFile)
const { version } = main
if (typeof version !== 'string' || version === '') {
  console.error(`${show(mainFile)} has no version`)
  process.exit(2)
}

const changes = []
const npmDir = join(root, 'npm')
const platformDirs = existsSync(npmDir)
  ? readdirSync(npmDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(npmDir, entry.name, 'package.json')))
      .map((entry) => entry.name)
      .sort()
  : []

if (platformDirs.length === 0) {
  console.error(`no npm/*/package.json found under ${root}`)
  process.exit(2)
}

// 1. The version of each platform package.
const platformNames = []
for (const dir of platformDirs) {
  const file = join(npmDir, dir, 'package.json')
  const pkg = readJson(file)
  platformNames.push(pkg.name)
  if (pkg.version !== version) {
    changes.push(`${show(file)}: version ${pkg.version} -> ${version}`)
    if (!check) {
      pkg.version = version
      writeJson(file, pkg)
    }
  }
}

// 2. With --release, the main package's optionalDependencies: one entry per platform package,
//    at exactly the main version. Entries that are not platform packages are kept;
//    platform-looking entries (`<name>-*`) with no npm/ directory are dropped.
if (!args.release) report()
const prefix = `${main.name}-`
const current = main.optionalDependencies ?? {}
const merged = {}
for (const [dep, range] of Object.entries(current)) {
  if (!dep.startsWith(prefix)) {
    merged[dep] = range
  } else if (!platformNames.includes(dep)) {
    changes.push(`${show(mainFile)}: optionalDependencies remove ${dep}@${range} (no npm/ directory)`)
  }
}
for (const dep of platformNames) {
  if (current[dep] === undefined) {
    changes.push(`${show(mainFile)}: optionalDependencies add ${dep}@${version}`)
  } else if (current[dep] !== version) {
    changes.push(`${show(mainFile)}: optionalDependencies ${dep} ${current[dep]} -> ${version}`)
  }
  merged[dep] = version
}
// Sorted by name, as npm itself writes dependency maps.
const wanted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

const orderChanged = JSON.stringify(Object.keys(current)) !== JSON.stringify(Object.keys(wanted))
if (orderChanged && changes.length === 0) {
  changes.push(`${show(mainFile)}: optionalDependencies reordered`)
}

if (!check && (orderChanged || changes.length > 0)) {
  if (main.optionalDependencies === undefined) {
    // Place the new field right after `dependencies` (or at the end) to keep the file readable.
    const next = {}
    let placed = false
    for (const [key, value] of Object.entries(main)) {
      next[key] = value
      if (key === 'dependencies') {
        next.optionalDependencies = wanted
        placed = true
      }
    }
    if (!placed) next.optionalDependencies = wanted
    writeJson(mainFile, next)
  } else {
    main.optionalDependencies = wanted
    writeJson(mainFile, main)
  }
}

report()

function report() {
  for (const line of changes) console.log(line)
  if (changes.length === 0) {
    console.log(`all ${platformDirs.length} platform packages are at ${version}`)
  } else if (check) {
    console.error(`${changes.length} change(s) needed: run node scripts/sync-npm-versions.mjs`)
    process.exit(1)
  } else {
    console.log(`${changes.length} change(s) written`)
  }
  process.exit(0)
}
