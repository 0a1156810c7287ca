import { addon } from './addon.js'
import { CONTROLLED, type Controlled, controlled, controlledSync } from './control.js'
import { type CachelinkError, fsError, invalidArgType, invalidArgValue } from './errors.js'
import type { NativeError } from './native.js'
import type { NativeFailure, NativeVerifyResult } from './binding.js'
import { type PathLike, toPath } from './options.js'
import { checkOptions, type Known } from './suggest.js'

/**
 * A store entry to check, with the digest its index records. Other fields are ignored (a
 * {@link PnpmStoreEntry}'s `mode`, `size`, `uses`), unlike a misspelled option.
 */
export interface VerifyEntry {
  /** The store file (followed if it is a symlink). */
  path: PathLike
  /**
   * The expected digest: SRI as pnpm and npm store it (`sha512-<base64>`, `sha256-…`,
   * `sha384-…`; of several space-separated ones the strongest known is used), or
   * `sha512:<hex>` / `sha256:<hex>` / `sha384:<hex>` (uv's form).
   */
  integrity: string
  /**
   * A copy with the right bytes. When the entry does not match, the good copy is read and hashed
   * first; only if its digest is the expected one are its bytes written over the entry, in
   * place (see {@link verifyEntries}).
   */
  good?: PathLike
}

export interface VerifyOptions extends Controlled {
  /**
   * Repair mismatched entries that have a `good` copy. `false` only reports (good copies are
   * not read).
   * @default true
   */
  repair?: boolean
}

/** `verifyEntries`' options, one line each. */
export const VERIFY_OPTIONS = { ...CONTROLLED, repair: true } as const satisfies Known<keyof VerifyOptions>

/** What happened to a mismatched entry that had a good copy. */
export interface VerifyRepair {
  /** The good copy, as given. */
  good: string | Buffer
  /** The entry now holds the good copy's bytes: same inode, mode, atime and mtime as before. */
  done: boolean
  /**
   * When the good copy's own digest is not the expected one either: its digest (in the form of
   * `expected`), and nothing was written. Null otherwise.
   */
  goodActual: string | null
  /** Why reading the good copy or writing the entry failed (Node's fs error); null otherwise. */
  error: CachelinkError | null
}

/** An entry whose bytes are not what its digest says. */
export interface VerifyMismatch {
  /** The entry's path, as given. */
  path: string | Buffer
  /** The digest given. */
  expected: string
  /** The entry's digest, in the same form (SRI or hex) as `expected`. */
  actual: string
  /** Bytes hashed. */
  size: number
  /** Null when no good copy was given, or with `repair: false`. */
  repair: VerifyRepair | null
}

/** An entry that could not be read: missing (`ENOENT`), a directory (`EISDIR`), ... */
export interface VerifyUnreadable {
  path: string | Buffer
  /** Node's fs error (`code`, `errno`, `syscall`, `path`). */
  error: CachelinkError
}

export interface VerifyResult {
  /** Entries checked. */
  files: number
  /** Entries whose digest matched. */
  ok: number
  /** Bytes hashed (entries and good copies). */
  bytesHashed: number
  /** Mismatched entries repaired. */
  repaired: number
  /** In the order of the entries; repaired ones too (`repair.done`). */
  mismatches: VerifyMismatch[]
  unreadable: VerifyUnreadable[]
  elapsedMs: number
}

type Algo = 'sha256' | 'sha384' | 'sha512'
const LENGTH: Record<Algo, number> = { sha256: 32, sha384: 48, sha512: 64 }
const STRENGTH: Algo[] = ['sha256', 'sha384', 'sha512']

/** A digest as given: its algorithm, its bytes, and its form. */
export interface ParsedDigest {
  algo: Algo
  digest: Buffer
  form: 'sri' | 'hex'
}

const HEX_FORM = /^(sha256|sha384|sha512):([0-9a-fA-F]+)$/
const SRI_ITEM = /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+)(={0,2})(\?.*)?$/

/** One SRI hash (`sha512-<base64>[?options]`), or null. */
function parseSri(item: string): ParsedDigest | null {
  const m = SRI_ITEM.exec(item)
  if (!m) return null
  const algo = m[1] as Algo
  const n = LENGTH[algo]
  // Exactly the digest's length in base64 (Buffer.from would skip or cut what is not).
  if (m[2].length !== Math.ceil((n * 4) / 3) || (m[3] !== '' && m[2].length + m[3].length !== 4 * Math.ceil(n / 3))) return null
  return { algo, digest: Buffer.from(m[2], 'base64'), form: 'sri' }
}

/**
 * `sha512-<base64>` (SRI; the strongest of several space-separated, `?options` ignored) or
 * `sha512:<hex>`; null when it is neither (or names no algorithm cachelink computes).
 */
export function parseDigest(text: string): ParsedDigest | null {
  if (!text.includes(' ') && !text.includes('\t')) {
    const single = text.charCodeAt(6) === 0x3a /* : */ ? null : parseSri(text.trim())
    if (single) return single
  }
  const hex = HEX_FORM.exec(text.trim())
  if (hex) {
    const algo = hex[1] as Algo
    return hex[2].length === 2 * LENGTH[algo] ? { algo, digest: Buffer.from(hex[2], 'hex'), form: 'hex' } : null
  }
  let best: ParsedDigest | null = null
  for (const item of text.trim().split(/\s+/)) {
    const d = parseSri(item)
    if (d && (!best || STRENGTH.indexOf(d.algo) > STRENGTH.indexOf(best.algo))) best = d
  }
  return best
}

/** A digest (`hex`) of `algo` in the form `form`. */
export function formatDigest(algo: string, hex: string, form: 'sri' | 'hex'): string {
  return form === 'hex' ? `${algo}:${hex}` : `${algo}-${Buffer.from(hex, 'hex').toString('base64')}`
}

interface Checked {
  path: string | Buffer
  good: string | Buffer | null
  expected: string
  algo: Algo
  form: 'sri' | 'hex'
}

/** The entries checked, and their wire form: `path\0algo\0hex\0good` joined by NUL. */
function prepare(entries: unknown, caller: Function): [Checked[], Buffer] {
  if (entries == null || typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw invalidArgType('entries', 'an iterable of { path, integrity, good? }', entries, caller)
  }
  const list: Checked[] = []
  const parts: Array<string | Buffer> = []
  let buffers = false
  let i = 0
  for (const e of entries as Iterable<unknown>) {
    if (e === null || typeof e !== 'object') throw invalidArgType(`entries[${i}]`, 'of type object', e, caller)
    const { path, integrity, good } = e as VerifyEntry
    const p = toPath(path, `entries[${i}].path`, caller)
    if (typeof integrity !== 'string') throw invalidArgType(`entries[${i}].integrity`, 'of type string', integrity, caller)
    const parsed = parseDigest(integrity)
    if (!parsed) {
      throw invalidArgValue(`entries[${i}].integrity`, integrity, 'must be sha256, sha384 or sha512, as SRI (sha512-<base64>) or <algo>:<hex>', caller)
    }
    const g = good === undefined || good === null ? null : toPath(good, `entries[${i}].good`, caller)
    list.push({ path: p, good: g, expected: integrity, algo: parsed.algo, form: parsed.form })
    buffers ||= typeof p !== 'string' || (g !== null && typeof g !== 'string')
    parts.push(i > 0 ? '\0' : '', p, `\0${parsed.algo}\0${parsed.digest.toString('hex')}\0`, g ?? '')
    i++
  }
  // One string when every path is one (a Buffer for each part costs about five times more).
  if (!buffers) return [list, Buffer.from(parts.join(''))]
  return [list, Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)))]
}

function repairFlag(options: VerifyOptions, caller: Function): boolean {
  checkOptions(options, VERIFY_OPTIONS, 'verifyEntries', caller)
  const repair = options.repair ?? true
  if (typeof repair !== 'boolean') throw invalidArgType('options.repair', 'of type boolean', repair, caller)
  return repair
}

function failureError(f: NativeFailure, caller: Function): CachelinkError {
  const n = Object.assign(new Error(f.code), { cachelink: true as const, ...f, detail: f.detail ?? undefined })
  return fsError(n as NativeError, caller)
}

/** The engine's result (entries by index, digests in hex) with the caller's paths and forms. */
function result(r: NativeVerifyResult, list: Checked[], caller: Function): VerifyResult {
  return {
    files: r.files,
    ok: r.ok,
    bytesHashed: r.bytesHashed,
    repaired: r.repaired,
    mismatches: r.mismatches.map((m) => {
      const e = list[m.index]
      const { algo, form } = e
      return {
        path: e.path,
        expected: e.expected,
        actual: formatDigest(algo, m.actual, form),
        size: m.size,
        repair:
          m.repair === null || m.repair === undefined || e.good === null
            ? null
            : {
                good: e.good,
                done: m.repair === 'done',
                goodActual: m.goodActual ? formatDigest(algo, m.goodActual, form) : null,
                error: m.repairError ? failureError(m.repairError, caller) : null,
              },
      }
    }),
    unreadable: r.unreadable.map((u) => ({ path: list[u.index].path, error: failureError(u.error, caller) })),
    elapsedMs: r.elapsedMs,
  }
}

/**
 * Checks store entries against the digests their index records (sha256, sha384 or sha512), on
 * cachelink's own threads, and repairs a mismatched entry from its `good` copy **in place**:
 * installers that hard-link share one inode between the store and every project, so an edit
 * through any link changes the store for everyone; writing the good bytes into that same inode
 * repairs every linked project too.
 *
 * A repair reads the good copy whole and hashes it first: if its digest is not the expected one,
 * nothing is written (`repair.goodActual`). Otherwise the entry is rewritten from offset 0,
 * truncated to the good copy's length, given back its mode and its atime and mtime as they were,
 * and fsynced; an entry that is read-only but owned by the process gets `u+w` for the moment.
 * An entry whose digest matches is never written. Missing and unreadable entries are reported
 * with Node's fs error (`ENOENT`, `EISDIR`, `EACCES`), not thrown; the call rejects only on bad
 * arguments or an abort.
 *
 * `onProgress` gets the entries checked so far out of all of them; `signal` stops the work
 * between files (an entry being repaired is finished first).
 *
 * @example
 * ```ts
 * const r = await verifyEntries([
 *   { path: '/store/v10/files/ab/cdef…', integrity: 'sha512-q83v…==', good: '/tmp/fresh/ab/cdef…' },
 * ])
 * r.mismatches // [{ path, expected, actual, size, repair: { done: true, … } }]
 * ```
 */
export async function verifyEntries(entries: Iterable<VerifyEntry>, options: VerifyOptions = {}): Promise<VerifyResult> {
  const [list, records] = prepare(entries, verifyEntries)
  const repair = repairFlag(options, verifyEntries)
  const r = await controlled(options, verifyEntries, (control) => addon().verify(records, repair, control))
  return result(r, list, verifyEntries)
}

/** The synchronous twin of {@link verifyEntries}. */
export function verifyEntriesSync(entries: Iterable<VerifyEntry>, options: VerifyOptions = {}): VerifyResult {
  const [list, records] = prepare(entries, verifyEntriesSync)
  const repair = repairFlag(options, verifyEntriesSync)
  const r = controlledSync(options, verifyEntriesSync, (control) => addon().verifySync(records, repair, control))
  return result(r, list, verifyEntriesSync)
}
