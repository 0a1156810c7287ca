/**
 * `cachelink/pnpm`: a complete `.pnpmfile.cjs` whose `hooks.importPackage` replaces pnpm's own
 * package importer with {@link importFiles}, so installs on a filesystem with a hard link limit
 * (EFS: 177 links, NTFS: 1024) reset the store entry instead of silently copying.
 *
 * ```js
 * // .pnpmfile.cjs
 * module.exports = require('cachelink/pnpm')
 * // or, with options in code:
 * module.exports = require('cachelink/pnpm').withOptions({ maxLinks: 177 })
 * ```
 * @module
 */
import { appendFileSync, constants, promises as fs } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { debuglog } from 'node:util'
import { importFiles, type ImportStats } from './import.js'
import { fsError, invalidArgType, invalidArgValue } from './errors.js'
import type { NativeError } from './native.js'
import { type LinkOptions, normalize } from './options.js'
import { checkOptions, didYouMean, type Known } from './suggest.js'

/** What pnpm 10 passes to `hooks.importPackage` (pnpm's `ImportOptions`). */
export interface PnpmImportOptions {
  /** Each file's path inside the package, `/`-separated, to its absolute path in the store. */
  filesMap: Record<string, string>
  /** Import even when the package looks installed already (pnpm's `--force`; the hoisted linker always). */
  force: boolean
  /** Where the files come from: the store, a local directory (`file:`, injected workspace packages), ... */
  resolvedFrom: 'store' | 'local-dir' | 'remote' | string
  /** Carry `<to>/node_modules` over into the new package directory (the hoisted linker). */
  keepModulesDir?: boolean
  /** The target is content-addressed (pnpm's global virtual store): keep it when it already holds these files. */
  safeToSkip?: boolean
  /** With `resolvedFrom: 'local-dir'`: import only into a directory that is empty (or holds only `node_modules`). */
  disableRelinkLocalDirDeps?: boolean
}

/** What the hook returns to pnpm: the method used, or `undefined` when nothing was imported. */
export type PnpmImportMethod = 'clone' | 'hardlink' | 'copy' | undefined

/** `hooks.importPackage` as pnpm 10 calls it (and awaits it). */
export type PnpmImportPackage = (to: string, options: PnpmImportOptions) => Promise<PnpmImportMethod>

/** A complete pnpmfile: `{ hooks: { importPackage } }`, plus {@link withOptions} to make another. */
export interface CachelinkPnpmfile {
  /** `importPackage` is left out with `CACHELINK_PNPM=off` (pnpm then imports by itself). */
  hooks: { importPackage?: PnpmImportPackage }
  withOptions(options?: PnpmHookOptions): CachelinkPnpmfile
}

/**
 * The hook's options. Each one not given here is read from its environment variable, when set,
 * then falls back to the default.
 */
export interface PnpmHookOptions {
  /**
   * How files are materialized, as `linkFile`'s: a method or a list (`CACHELINK_METHOD`, a
   * list comma-separated). Packages pnpm writes into after the import, those that will run an
   * install script (`preinstall`, `install`, `postinstall`, a `binding.gyp` or `.hooks/`) and
   * those the project patches (`patchedDependencies`), are cloned or copied
   * (`['clone', 'copy']`), never linked, as pnpm does: their build or patch must not write into
   * the store.
   * @default 'auto'
   */
  method?: LinkOptions['method']
  /**
   * Treat a store file with this many links as at the limit (`CACHELINK_MAX_LINKS`; EFS: 177).
   * @default undefined (the filesystem's own limit)
   */
  maxLinks?: number
  /**
   * At the link limit (`CACHELINK_ON_LINK_LIMIT`): `'reset'` the store entry, `'copy'` the
   * file, or `'error'`.
   * @default 'reset'
   */
  onLinkLimit?: LinkOptions['onLinkLimit']
  /**
   * Called after each package is imported (or kept), with what the import did. The environment
   * variable `CACHELINK_STATS_FILE=<path>` appends the same as one JSON line per package.
   * @default none
   */
  onImport?: (to: string, stats: ImportStats) => void
}

/** The hook's options, one line each: any other is refused (see `LINK_OPTIONS` in options.ts). */
export const HOOK_OPTIONS = { method: true, maxLinks: true, onLinkLimit: true, onImport: true } as const satisfies Known<
  keyof PnpmHookOptions
>

/** `CACHELINK_PNPM`'s values: `on` (the default, as when unset) and `off`; any other is refused. */
const PNPM_SWITCH = ['on', 'off']

/**
 * The most of a package.json the hook reads from the store (8 MiB; the largest on npm are well
 * under 1 MiB): a bigger one is refused with EFBIG rather than read into memory.
 */
export const MANIFEST_MAX_BYTES = 8 * 1024 * 1024

const debug = debuglog('cachelink')

/** An environment variable's value, or undefined when unset or empty. */
function env(name: string): string | undefined {
  const v = process.env[name]
  return v === undefined || v === '' ? undefined : v
}

function envInteger(name: string): number | undefined {
  const v = env(name)
  if (v === undefined) return undefined
  return /^\d+$/.test(v) ? Number(v) : (v as unknown as number) // normalize() refuses a non-number, naming the variable
}

/** The options read from the environment, each checked on its own so an error names its variable. */
function fromEnv(caller: Function): LinkOptions {
  const vars = { method: 'CACHELINK_METHOD', maxLinks: 'CACHELINK_MAX_LINKS', onLinkLimit: 'CACHELINK_ON_LINK_LIMIT' } as const
  const o: Record<string, unknown> = {
    // A list is comma-separated: CACHELINK_METHOD=clone,hardlink,copy.
    method: env(vars.method)?.includes(',') ? env(vars.method)?.split(',').map((m) => m.trim()) : env(vars.method),
    maxLinks: envInteger(vars.maxLinks),
    onLinkLimit: env(vars.onLinkLimit),
  }
  for (const key of Object.keys(vars) as Array<keyof typeof vars>) {
    if (o[key] === undefined) continue
    try {
      normalize({ [key]: o[key] }, caller)
    } catch (e) {
      ;(e as Error).message = `${vars[key]}=${env(vars[key])}: ${(e as Error).message}`
      throw e
    }
  }
  return o as LinkOptions
}

interface Settled {
  link: LinkOptions
  onImport?: (to: string, stats: ImportStats) => void
  statsFile?: string
}

function settle(options: PnpmHookOptions | undefined, caller: Function): Settled {
  const o = options ?? {}
  if (typeof o !== 'object') throw invalidArgType('options', 'of type object', o, caller)
  checkOptions(o, HOOK_OPTIONS, 'withOptions', caller)
  const e = fromEnv(caller)
  const link: LinkOptions = {
    method: o.method ?? e.method,
    maxLinks: o.maxLinks ?? e.maxLinks,
    onLinkLimit: o.onLinkLimit ?? e.onLinkLimit,
  }
  // Bad values fail now, when pnpm loads the pnpmfile, not on the first package.
  normalize(link, caller)
  if (o.onImport !== undefined && typeof o.onImport !== 'function') {
    throw invalidArgType('options.onImport', 'of type function', o.onImport, caller)
  }
  return { link, onImport: o.onImport, statsFile: env('CACHELINK_STATS_FILE') }
}

/** Node's fs error for `code`, naming `path`, with its stack cut at `caller`. */
function manifestError(code: string, syscall: string, path: string, caller: Function): Error {
  const n = Object.assign(new Error(code), { cachelink: true as const, code, syscall, path })
  return fsError(n as unknown as NativeError, caller)
}

/**
 * A package.json's text, read with care: opened without blocking (a FIFO would wait for a
 * writer forever) and, from the store, without following a symlink (ELOOP: the store holds
 * regular files only, see "The store" in the README); anything but a regular file is refused
 * with EINVAL (a FIFO, a device such as /dev/zero, a socket; EISDIR for a directory), and one
 * over {@link MANIFEST_MAX_BYTES} with EFBIG, read no further than that.
 */
async function readText(path: string, fromStore: boolean, caller: Function): Promise<string> {
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (fromStore ? (constants.O_NOFOLLOW ?? 0) : 0)
  const file = await fs.open(path, flags)
  try {
    const st = await file.stat()
    if (st.isDirectory()) throw manifestError('EISDIR', 'open', path, caller)
    if (!st.isFile()) throw manifestError('EINVAL', 'open', path, caller)
    if (st.size > MANIFEST_MAX_BYTES) throw manifestError('EFBIG', 'read', path, caller)
    // At most one byte more than the cap, in case it grew since the fstat.
    const buf = Buffer.alloc(Math.min(st.size, MANIFEST_MAX_BYTES) + 1)
    let n = 0
    for (let r; n < buf.length && (r = (await file.read(buf, n, buf.length - n, n)).bytesRead) > 0; ) n += r
    if (n > MANIFEST_MAX_BYTES) throw manifestError('EFBIG', 'read', path, caller)
    return buf.toString('utf8', 0, n)
  } finally {
    await file.close()
  }
}

/**
 * The package's name and scripts, from its package.json in the store (none when it has none).
 * A store entry that is not a regular file, or too big, fails the import (see `readText`).
 */
async function readManifest(
  filesMap: Record<string, string>,
  fromStore: boolean,
  caller: Function,
): Promise<{ name?: unknown; scripts?: Record<string, unknown> }> {
  const manifest = filesMap['package.json']
  if (manifest === undefined) return {}
  let text: string
  try {
    text = await readText(manifest, fromStore, caller)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EINVAL' || code === 'EISDIR' || code === 'EFBIG' || code === 'ELOOP') throw e
    return {} // missing or unreadable: pnpm's own import reads it no better, and fails on it itself
  }
  try {
    return JSON.parse(text) ?? {}
  } catch {
    return {} // the install reports a bad manifest itself
  }
}

/**
 * pnpm's own test for "this package will be built" (`pkgRequiresBuild`): an install script in
 * its package.json, a binding.gyp, or files under `.hooks/`. pnpm imports such packages by
 * clone or copy; the hook is not told, so it reads the manifest from the store.
 */
function requiresBuild(filesMap: Record<string, string>, scripts: Record<string, unknown> | undefined): boolean {
  if (filesMap['binding.gyp'] !== undefined) return true
  for (const f in filesMap) if (f.startsWith('.hooks/') || f.startsWith('.hooks\\')) return true
  return Boolean(scripts && (scripts.preinstall || scripts.install || scripts.postinstall))
}

/** The keys of a top-level `patchedDependencies:` block of a YAML file (pnpm-workspace.yaml, pnpm-lock.yaml). */
function yamlPatchKeys(text: string): string[] {
  const m = /^patchedDependencies:[ \t]*\r?\n((?:(?:[ \t].*)?\r?\n)*)/m.exec(text)
  if (!m) return []
  const keys: string[] = []
  for (const line of m[1].split(/\r?\n/)) {
    const k = /^ {2}(?:'([^']+)'|"([^"]+)"|([^\s'"][^:]*)):/.exec(line)
    if (k) keys.push(k[1] ?? k[2] ?? k[3])
  }
  return keys
}

/** `name@1.2.3` or `@scope/name@^1` or `name`: the name. */
function nameOfPatchKey(key: string): string {
  const at = key.indexOf('@', 1)
  return at < 0 ? key : key.slice(0, at)
}

const patchedByDir = new Map<string, Promise<Set<string>>>()

/**
 * Names of the packages the project patches (`patchedDependencies` in pnpm-workspace.yaml, in
 * package.json's `pnpm`, or in pnpm-lock.yaml), looked up from the directory `to` is under,
 * upwards to the workspace root; once per directory for the life of the process.
 */
function patchedNames(to: string): Promise<Set<string>> {
  const i = to.indexOf(`${sep}node_modules${sep}`)
  const start = i < 0 ? dirname(to) : to.slice(0, i)
  let found = patchedByDir.get(start)
  if (!found) {
    found = (async () => {
      const names = new Set<string>()
      const read = (f: string) => fs.readFile(f, 'utf8').catch(() => undefined)
      for (let dir = start; ; dir = dirname(dir)) {
        const [pkg, workspace, lock] = await Promise.all(
          ['package.json', 'pnpm-workspace.yaml', 'pnpm-lock.yaml'].map((f) => read(join(dir, f))),
        )
        try {
          for (const k of Object.keys(JSON.parse(pkg ?? '{}')?.pnpm?.patchedDependencies ?? {})) names.add(nameOfPatchKey(k))
        } catch {
          // not ours to report: pnpm reads this package.json itself
        }
        for (const text of [workspace, lock]) for (const k of yamlPatchKeys(text ?? '')) names.add(nameOfPatchKey(k))
        if (workspace !== undefined || lock !== undefined || dirname(dir) === dir) return names
      }
    })()
    patchedByDir.set(start, found)
  }
  return found
}

/** pnpm's `clone-or-copy`, for packages that will be built. */
const CLONE_OR_COPY = ['clone', 'copy'] as const

/** Whether every method of `method` gives a file of its own (no link to the store's). */
function givesOwnFiles(method: LinkOptions['method']): boolean {
  const list: readonly string[] = Array.isArray(method) ? method : [method ?? 'auto']
  return list.every((m) => m === 'clone' || m === 'reflink' || m === 'copy')
}

/** Whether `dir` holds anything but `node_modules` (pnpm's `disableRelinkLocalDirDeps` test). */
async function hasOwnFiles(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).some((name) => name !== 'node_modules')
  } catch {
    return false
  }
}

function report(s: Settled, to: string, stats: ImportStats): void {
  if (s.statsFile) appendFileSync(s.statsFile, `${JSON.stringify({ to, ...stats })}\n`)
  s.onImport?.(to, stats)
}

function makeImportPackage(s: Settled): PnpmImportPackage {
  return async function importPackage(to, options) {
    if (typeof to !== 'string') throw invalidArgType('to', 'of type string', to, importPackage)
    const { filesMap, force, resolvedFrom, keepModulesDir, safeToSkip, disableRelinkLocalDirDeps } = options ?? {}
    if (typeof filesMap !== 'object' || filesMap === null) {
      throw invalidArgType('options.filesMap', 'an object of path to store path', filesMap, importPackage)
    }
    // As pnpm: a local directory dependency is imported only into an empty directory.
    if (disableRelinkLocalDirDeps && resolvedFrom === 'local-dir' && (await hasOwnFiles(to))) return undefined
    // As pnpm: from the store and not forced, an installed package is left as it is; a
    // content-addressed target (safeToSkip) is left when it already holds these files.
    const skip = safeToSkip || (!force && resolvedFrom === 'store')
    // A package pnpm writes into after the import gets files of its own, as pnpm's own importer
    // gives it: one that will be built, and one it patches (in place). The hook is told neither.
    let link = s.link
    if (!givesOwnFiles(s.link.method)) {
      const { name, scripts } = await readManifest(filesMap, resolvedFrom === 'store', importPackage)
      const patched =
        to.includes('_patch_hash=') || (typeof name === 'string' && (await patchedNames(to)).has(name))
      if (patched || requiresBuild(filesMap, scripts)) link = { ...s.link, method: CLONE_OR_COPY }
    }
    const stats = await importFiles(filesMap, {
      into: to,
      ...link,
      onExisting: skip ? 'skip-if-linked' : 'replace',
      // The package's node_modules: kept when pnpm asks (the hoisted linker); with skip, also so
      // that the bins pnpm puts in node_modules/.bin do not make an installed package look changed.
      keep: keepModulesDir || skip ? ['node_modules'] : [],
      // pnpm's own importer keeps the first of two names that differ only in case, and warns.
      onConflict: 'first',
    })
    report(s, to, stats)
    if (stats.files === 0 && stats.dirs === 0 && stats.kept > 0) {
      debug('pnpm: kept %s (%d files already in place)', to, stats.kept)
      return undefined
    }
    debug('pnpm: %s %d files into %s (%d resets)', stats.method, stats.files, to, stats.resets)
    return stats.method === 'symlink' || stats.method === null ? 'copy' : stats.method
  }
}

/**
 * A pnpmfile whose `importPackage` uses these options (each one not given is read from its
 * environment variable).
 *
 * @example
 * ```js
 * // .pnpmfile.cjs
 * module.exports = require('cachelink/pnpm').withOptions({ maxLinks: 177, onLinkLimit: 'reset' })
 * ```
 */
export function withOptions(options?: PnpmHookOptions): CachelinkPnpmfile {
  const settled = settle(options, withOptions)
  // CACHELINK_PNPM=off: no importPackage, so pnpm uses its own importer; `hooks` stays an
  // object, so the lockfile's pnpmfileChecksum still matches.
  const on = env('CACHELINK_PNPM')
  if (on !== undefined && !PNPM_SWITCH.includes(on)) {
    const reason = `must be one of: ${PNPM_SWITCH.map((v) => `'${v}'`).join(', ')}${didYouMean(on, PNPM_SWITCH)}`
    const err = invalidArgValue('CACHELINK_PNPM', on, reason, withOptions)
    err.message = `CACHELINK_PNPM=${on}: ${err.message}`
    throw err
  }
  if (on === 'off') return { hooks: {}, withOptions }
  return { hooks: { importPackage: makeImportPackage(settled) }, withOptions }
}

/** The default pnpmfile: options from the environment (`CACHELINK_METHOD`, `CACHELINK_MAX_LINKS`, ...). */
export const hooks: CachelinkPnpmfile['hooks'] = withOptions().hooks
