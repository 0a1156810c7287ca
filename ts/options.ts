import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js'
import type { NativeLinkOptions } from './native.js'
import type { Known } from './suggest.js'

/** How a file is materialized. */
export type LinkMethod = 'clone' | 'hardlink' | 'copy' | 'symlink'

/** A method as options name it: `'reflink'` is another name for `'clone'` (results say `'clone'`). */
export type MethodName = LinkMethod | 'reflink'

export interface LinkOptions {
  /**
   * The method; `'auto'`, the fastest that works here; or your own order as a list.
   *
   * `auto` tries, per OS: Linux hardlink → clone → copy; macOS clone → hardlink → copy;
   * Windows hardlink → copy. A list replaces that order on every OS: `['clone', 'hardlink',
   * 'copy']` (clones keep the store safe from edits: pnpm 11's and uv's default),
   * `['hardlink', 'symlink', 'copy']`, `['clone', 'copy']`. Each method is tried in turn while
   * the one before is not supported between the two places (see `fallback`); no `copy` is added
   * at the end, so a list without it can fail. One to four methods, none twice. `'reflink'` is
   * another name for `'clone'`, here and in lists.
   * @default 'auto'
   * @example
   * ```ts
   * await linkFile(src, dest, { method: ['clone', 'hardlink', 'copy'] })
   * ```
   */
  method?: 'auto' | MethodName | readonly MethodName[]
  /**
   * When a method fails with an error that means "not supported between these two places"
   * (EXDEV; EPERM, ENOTSUP, ENOSYS or EINVAL for clone; ...), move on: along `auto`'s chain or
   * your list, or from a named `clone`, `hardlink` or `symlink` to `copy`. What failed is
   * remembered per (source mount, destination mount) for the life of the process, and `auto`
   * and lists skip it (still listed in `fallbacks`), all but the last method; a single named
   * method is always tried. A hard link refused for one file only (Linux's
   * `fs.protected_hardlinks` for a file of another user, EPERM; a OneDrive folder on Windows) moves on
   * for that file and is not remembered (`linkRefused`). Real errors (ENOENT, EACCES, ENOSPC,
   * EIO, ...) are always thrown. `false` is strict mode: the named method or an error (it needs
   * one named method: `auto` and lists are chains).
   * @default true
   */
  fallback?: boolean
  /**
   * When a hard link fails with EMLINK (Windows ERROR_TOO_MANY_LINKS):
   * - `'reset'`: replace the cache entry with a fresh copy of itself (same bytes, mode, mtime),
   *   link that, and go on; if the cache is not writable, copy into the destination instead.
   * - `'copy'`: copy just this file into the destination.
   * - `'error'`: throw EMLINK.
   * @default 'reset'
   */
  onLinkLimit?: 'reset' | 'copy' | 'error'
  /**
   * Treat a cache entry that already has this many links as at the limit, and reset it before
   * linking (AWS EFS: 177; NTFS: 1024, a file and its 1023 links). At least 2.
   * @default undefined (the filesystem's own limit)
   */
  maxLinks?: number
  /**
   * When the destination exists: `'error'` throws EEXIST (like `fs.link`); `'replace'`
   * materializes beside it and renames over it (the destination is never missing); `'keep'`
   * leaves it. With `'replace'` and `'keep'`, a destination that already is the source's inode
   * is left as it is (`method: 'none'`).
   * @default 'error'
   */
  ifExists?: 'error' | 'replace' | 'keep'
}

/**
 * The options `linkFile` takes, one line each: any other name is refused
 * (`ERR_INVALID_ARG_VALUE`, with a "did you mean"). Every function's table sits beside its
 * options' type (`IMPORT_OPTIONS` in import.ts, ...); the compiler checks each against its type.
 */
export const LINK_OPTIONS = {
  method: true,
  fallback: true,
  onLinkLimit: true,
  maxLinks: true,
  ifExists: true,
} as const satisfies Known<keyof LinkOptions>

export type PathLike = string | Buffer | URL

/** The options as the addon takes them: every one present, `maxLinks` 0 for none. */
export type Normalized = NativeLinkOptions

/**
 * `linkFile`'s options packed in one number, as `packed_options` in crate/src/binding/link.rs
 * reads them (one argument instead of an object read property by property: see the README's
 * "The binding").
 */
export function packFlags(o: Normalized): number {
  return packMethod(o.method) | (o.fallback ? 8 : 0) | (ON_LINK_LIMIT.indexOf(o.onLinkLimit) << 4) | (IF_EXISTS.indexOf(o.ifExists) << 6)
}

/** Bits 0-2 the method (5: a list), and a list in 3 bits a method from bit 8. */
function packMethod(method: Normalized['method']): number {
  if (typeof method === 'string') return METHODS.indexOf(method)
  let bits = 0
  for (let i = method.length - 1; i >= 0; i--) bits = (bits << 3) | METHODS.indexOf(method[i])
  return 5 | (bits << 8)
}

const METHODS = ['auto', 'clone', 'hardlink', 'copy', 'symlink'] as const
const NAMES: MethodName[] = ['clone', 'hardlink', 'copy', 'symlink', 'reflink']
const ON_LINK_LIMIT: Array<NativeLinkOptions['onLinkLimit']> = ['reset', 'copy', 'error']
const IF_EXISTS: Array<NativeLinkOptions['ifExists']> = ['error', 'replace', 'keep']

/** A path as the addon takes it: a string, or a Buffer of raw bytes. */
export function toPath(value: unknown, name: string, caller: Function): string | Buffer {
  if (value instanceof URL) {
    if (value.protocol !== 'file:') {
      throw invalidArgValue(name, value.href, 'must be a file: URL', caller)
    }
    value = fileURLToPath(value)
  }
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
    throw invalidArgType(name, 'of type string or an instance of Buffer or URL', value, caller)
  }
  if (value.length === 0) throw invalidArgValue(name, value, 'must not be empty', caller)
  if (typeof value === 'string' ? value.includes('\0') : value.includes(0)) {
    throw invalidArgValue(name, String(value), 'must be a path without null bytes', caller)
  }
  return value
}

/**
 * `path.resolve` for a path as the addon takes it. A Buffer (raw bytes, perhaps not UTF-8) is
 * resolved one char per byte (latin1) and given back as bytes, so its bytes stay as they were.
 */
export function resolvePath(p: string | Buffer): string | Buffer {
  if (typeof p === 'string') return resolve(p)
  return Buffer.from(resolve(Buffer.from(process.cwd()).toString('latin1'), p.toString('latin1')), 'latin1')
}

function oneOf<T extends string>(value: unknown, name: string, allowed: T[], fallback: T, caller: Function): T {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !(allowed as string[]).includes(value)) {
    const list = allowed.map((a) => `'${a}'`).join(', ')
    throw invalidArgValue(name, value, `must be one of: ${list}`, caller)
  }
  return value as T
}

/** `options.method`: `'auto'`, one method or a list of them, with `'reflink'` made `'clone'`. */
function methodOf(value: unknown, caller: Function): Normalized['method'] {
  const canonical = (m: MethodName): LinkMethod => (m === 'reflink' ? 'clone' : m)
  const names = NAMES.map((n) => `'${n}'`).join(', ')
  if (value === undefined || value === 'auto') return 'auto'
  if (!Array.isArray(value)) {
    if (typeof value !== 'string' || !(NAMES as string[]).includes(value)) {
      throw invalidArgValue('options.method', value, `must be 'auto', one of ${names}, or a list of them`, caller)
    }
    return canonical(value as MethodName)
  }
  const shown = `[${value.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}]`
  const bad = (reason: string) => invalidArgValue('options.method', shown, reason, caller)
  if (value.length === 0) throw bad('must not be an empty list')
  const list: LinkMethod[] = []
  for (const v of value) {
    if (typeof v !== 'string' || !(NAMES as string[]).includes(v)) {
      throw bad(`must list methods among ${names}`)
    }
    const m = canonical(v as MethodName)
    if (list.includes(m)) throw bad(`must not name a method twice ('${m}')`)
    list.push(m)
  }
  return list
}

export function normalize(options: unknown, caller: Function): Normalized {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') {
    throw invalidArgType('options', 'of type object', options, caller)
  }
  const o = options as Record<string, unknown>
  const method = methodOf(o.method, caller)
  const onLinkLimit = oneOf(o.onLinkLimit, 'options.onLinkLimit', ON_LINK_LIMIT, 'reset', caller)
  const ifExists = oneOf(o.ifExists, 'options.ifExists', IF_EXISTS, 'error', caller)
  let fallback = true
  if (o.fallback !== undefined) {
    if (typeof o.fallback !== 'boolean') {
      throw invalidArgType('options.fallback', 'of type boolean', o.fallback, caller)
    }
    fallback = o.fallback
  }
  if (!fallback && method === 'auto') {
    throw invalidArgValue(
      'options.fallback',
      false,
      "needs a named method: 'auto' always moves along its chain",
      caller,
    )
  }
  if (!fallback && Array.isArray(method)) {
    throw invalidArgValue(
      'options.fallback',
      false,
      'needs a named method: a list of methods is already the chain to move along',
      caller,
    )
  }
  let maxLinks = 0
  if (o.maxLinks !== undefined) {
    if (typeof o.maxLinks !== 'number') {
      throw invalidArgType('options.maxLinks', 'of type number', o.maxLinks, caller)
    }
    if (!Number.isSafeInteger(o.maxLinks) || o.maxLinks < 2) {
      throw outOfRange('options.maxLinks', 'an integer >= 2', o.maxLinks, caller)
    }
    maxLinks = o.maxLinks
  }
  return { method, fallback, onLinkLimit, maxLinks, ifExists }
}
