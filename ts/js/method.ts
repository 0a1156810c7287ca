/**
 * The methods, `auto`'s order per OS, the failures that mean "not supported between these two
 * places", and `linkFile`'s packed options: the JS twin of crate/src/engine/method.rs and of
 * `packed_options` in crate/src/binding/link.rs.
 * @module
 */
import type { NativeLinkOptions } from '../native.js'
import { codeOf } from './error.js'

export type Method = 'clone' | 'hardlink' | 'copy' | 'symlink'

export interface LinkOpts {
  method: 'auto' | Method | Method[]
  fallback: boolean
  onLinkLimit: 'reset' | 'copy' | 'error'
  /** 0: none. */
  maxLinks: number
  ifExists: 'error' | 'replace' | 'keep'
}

/** The syscall named in errors, as the native engine names it. */
export function syscallOf(m: Method): string {
  return { clone: 'clone', hardlink: 'link', copy: 'copyfile', symlink: 'symlink' }[m]
}

/**
 * The methods to try, in order (method.rs `chain`): `auto` is Linux hardlink → clone → copy,
 * macOS clone → hardlink → copy, Windows hardlink → copy; other OSes (where only this backend
 * runs: FreeBSD, ...) take Linux's order. A named method falls back to copy with `fallback`.
 */
export function chain(o: LinkOpts): Method[] {
  if (Array.isArray(o.method)) return o.method
  if (o.method === 'auto') {
    if (process.platform === 'darwin') return ['clone', 'hardlink', 'copy']
    if (process.platform === 'win32') return ['hardlink', 'copy']
    return ['hardlink', 'clone', 'copy']
  }
  if (o.method === 'copy') return ['copy']
  return o.fallback ? [o.method, 'copy'] : [o.method]
}

/** `auto` and lists skip what the memo knows not to work; a method named alone is always tried. */
export function skipsKnownFailures(o: LinkOpts): boolean {
  return o.method === 'auto' || Array.isArray(o.method)
}

/**
 * With a list, the same chain without the methods that share the source's inode: clone and copy
 * in their order, ending with a copy (for `ImportEntry.mutable`).
 */
export function withoutLinks(methods: Method[]): Method[] {
  const out: Method[] = []
  for (const m of methods) {
    if (m === 'clone' || m === 'copy') out.push(m)
    if (m === 'copy') break
  }
  if (out.at(-1) !== 'copy') out.push('copy')
  return out
}

/**
 * `denied`: a hard link's EACCES (Unix), which FUSE filesystems answer for every link (Android's
 * shared storage, Termux); `linkFile` decides what it means (link.ts `denied`, link.rs).
 */
export type Class = 'unsupported' | 'refused' | 'denied' | 'link-limit' | 'real'

const isWindows = process.platform === 'win32'

/**
 * What a failure of `method` means (method.rs `classify`). `mayLink`: the process owns the
 * source, is root, or may read and write it; only then does a hard link's EPERM mean "no hard
 * links on this filesystem" rather than Linux's `protected_hardlinks` refusing this one file.
 *
 * Windows: the native engine reads Win32 numbers that libuv names vaguely (1 ERROR_INVALID_FUNCTION
 * → EISDIR, 50 → ENOTSUP, 87 → EINVAL, 347 → UNKNOWN); Node gives only libuv's names, so those
 * names stand for them here. ERROR_CLOUD_FILE_INCOMPATIBLE_HARDLINKS (396, a OneDrive folder) is
 * `UNKNOWN` to Node like ERROR_TOO_MANY_LINKS and cannot be told from it: `UNKNOWN` from `link`
 * is EMLINK (the rule), so a OneDrive refusal goes through the link-limit path here.
 */
export function classify(method: Method, e: unknown, mayLink: boolean, windows = isWindows): Class {
  const code = codeOf(e)
  if (method === 'hardlink' && code === 'EMLINK') return 'link-limit'
  if (code === 'EXDEV' && method !== 'copy') return 'unsupported'
  if (windows) {
    let unsupported = false
    if (method === 'clone') unsupported = ['ENOTSUP', 'EISDIR', 'EINVAL', 'UNKNOWN', 'ENOSYS'].includes(code)
    if (method === 'hardlink') unsupported = ['EISDIR', 'ENOTSUP'].includes(code)
    if (method === 'symlink') unsupported = ['EPERM', 'ENOTSUP'].includes(code)
    return unsupported ? 'unsupported' : 'real'
  }
  if (method === 'hardlink' && code === 'EPERM' && !mayLink) return 'refused'
  if (method === 'hardlink' && code === 'EACCES') return 'denied'
  let unsupported = false
  if (method === 'clone') unsupported = ['ENOTSUP', 'EINVAL', 'ENOSYS', 'ENOTTY', 'EPERM'].includes(code)
  if (method === 'hardlink' || method === 'symlink') unsupported = ['EPERM', 'ENOTSUP', 'ENOSYS'].includes(code)
  return unsupported ? 'unsupported' : 'real'
}

const BY_BITS: Array<Method | undefined> = [undefined, 'clone', 'hardlink', 'copy', 'symlink']
const ON_LINK_LIMIT = ['reset', 'copy', 'error'] as const
const IF_EXISTS = ['error', 'replace', 'keep'] as const

/** `linkFile`'s flags (ts/options.ts `packFlags`) as options. */
export function unpackFlags(flags: number, maxLinks: number): LinkOpts {
  const bad = () => new TypeError(`Invalid link options: flags ${flags}, maxLinks ${maxLinks}`)
  let method: LinkOpts['method']
  const m = flags & 7
  if (m === 0) method = 'auto'
  else if (m === 5) {
    const list: Method[] = []
    for (let bits = flags >> 8; bits & 7; bits >>= 3) {
      const one = BY_BITS[bits & 7]
      if (!one || list.includes(one)) throw bad()
      list.push(one)
    }
    if (list.length === 0) throw bad()
    method = list
  } else {
    const one = BY_BITS[m]
    if (!one) throw bad()
    method = one
  }
  const onLinkLimit = ON_LINK_LIMIT[(flags >> 4) & 3]
  const ifExists = IF_EXISTS[(flags >> 6) & 3]
  if (!onLinkLimit || !ifExists || (maxLinks !== 0 && maxLinks < 2)) throw bad()
  return { method, fallback: (flags & 8) !== 0, onLinkLimit, maxLinks, ifExists }
}

/** The options of an import, as the facade passes them. */
export function fromNative(o: NativeLinkOptions): LinkOpts {
  return { method: o.method, fallback: o.fallback, onLinkLimit: o.onLinkLimit, maxLinks: o.maxLinks, ifExists: o.ifExists }
}
