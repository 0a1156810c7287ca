/**
 * `importFiles` and `importTree` for the JS backend: crate/src/engine/batch.rs, batch/target.rs,
 * conflicts.rs, existing.rs, tree.rs and wire.rs, one file at a time on the calling thread
 * (sync) or one `fs.promises` call at a time (async).
 *
 * What it does: the wire format and path safety, entry names as bytes (names that are not
 * UTF-8 import); same-path duplicates and conflicts (`onConflict`, case-folding asked of the
 * destination once, only for a pair), a file that is also a needed directory; a stage beside
 * `into` renamed there when complete (`atomic`), a fresh `into` (`atomic: false`), merge into an
 * existing one (`link.ifExists`), `onExisting: 'error'`, `'replace'` (a stage traded in by two
 * renames, `keep` carried over) and `'skip-if-linked'` (nothing written when every file already
 * is its cache inode or an identical copy); directory and symlink entries, `executable`,
 * `mutable`, the stats, progress and abort between files, a held commit (`Control`). The async
 * import runs in slices on the JS thread (ops.ts `runSliced`), one file after the other.
 *
 * Node cannot (ts/js/README.md): RENAME_EXCHANGE (a replace leaves `into` missing between its two renames) and
 * RENAME_NOREPLACE (a stage is renamed to `into` after checking it is absent).
 * @module
 */
import type { BigIntStats } from 'node:fs'
import { dirname, join as pjoin, sep } from 'node:path'
import type { ImportPackagesStats, ImportStats, NativeImportOptions } from '../binding.js'
import type { NativeError } from '../native.js'
import { resolvePath } from '../options.js'
import type { Control } from './control.js'
import { coded, fail, is, shown } from './error.js'
import { checkKeep, swapIn } from './existing.js'
import { Materialize, removeQuietly, source } from './link.js'
import * as memo from './memo.js'
import { chain, fromNative, type Method, syscallOf, withoutLinks } from './method.js'
import { asPath, bytesOf, op, runSliced, runSync, samePath, type P, type Step } from './ops.js'
import { HOLDS_SOURCE, type Known, nestedOrder, refuseIntoSources, type Source, unstageNested, within } from './sources.js'
import { isOwn } from './scan.js'
import { dirOf, pathBeside, stageBeside } from './temp.js'
import { retrying } from './retry.js'

type Kind =
  | {
      kind: 'file'
      src: P
      executable: boolean | null
      mutable: boolean
      size: number | null
      /** A store file's bucket (`files/<2 hex>`), for entries named by digest (store.rs `bucket_of`). */
      bucket?: P
    }
  | { kind: 'symlink'; target: P }
  | { kind: 'dir' }

export interface Entry {
  /**
   * Plain names joined by `/`, as a byte string (latin1: one char per byte), so a name that is
   * not UTF-8 survives, and comparing, folding and splitting work on its bytes.
   */
  rel: string
  item: Kind
}

const SEP_CHAR = process.platform === 'win32' ? '\\' : '/'
const SEP = Buffer.from(SEP_CHAR)

const ASCII = /^[\x00-\x7f]*$/

/**
 * `base` + separator + `rel` (a byte string). A string when `base` is one and `rel` is ASCII
 * (the common case: no Buffer made per file), else the raw bytes.
 */
function join(base: P, rel: string): P {
  if (rel === '') return base
  if (typeof base === 'string' && ASCII.test(rel)) return `${base}${SEP_CHAR}${rel}`
  return Buffer.concat([bytesOf(base), SEP, Buffer.from(rel, 'latin1')])
}

/** A byte string as people read it (UTF-8). */
function shownRel(rel: string): string {
  return Buffer.from(rel, 'latin1').toString()
}

function own(code: string, detail: string, path: P, dest?: P | null, entry?: string): NativeError {
  const err = coded(code, code === 'ABORT_ERR' ? 'import' : 'import', path, dest)
  err.detail = detail
  if (entry !== undefined) err.entry = entry
  return err
}

/** The NUL-separated fields of a wire record list. */
function wireFields(records: Buffer): Buffer[] {
  const fields: Buffer[] = []
  let start = 0
  for (let i = 0; i <= records.length; i++) {
    if (i === records.length || records[i] === 0) {
      fields.push(records.subarray(start, i))
      start = i + 1
    }
  }
  return fields
}

/** wire.rs `parse_entries`: `path\0src\0flags\0size\0...`, checked before anything is written. */
export function parseEntries(records: Buffer, into: P): Entry[] {
  if (records.length === 0) return []
  const fields = wireFields(records)
  const out: Entry[] = []
  for (let i = 0; i < fields.length; i += 4) out.push(entryAt(fields, i, into, null))
  return out
}

/** wire.rs `parse_package`: one package's entries, some flagged `s` (named by digest in `store`). */
export function parsePackage(records: Buffer, into: P, store: P | null): Entry[] {
  if (records.length === 0) return []
  const fields = wireFields(records)
  const out: Entry[] = []
  for (let i = 0; i < fields.length; i += 4) out.push(entryAt(fields, i, into, store))
  return out
}

const DIGEST_BYTES: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

/** store.rs `hex_digest`: SRI (the first of several) or hex, as lowercase hex; null if neither. */
function hexDigest(digest: string): string | null {
  const first = digest.trim().split(/\s+/)[0] ?? ''
  const dash = first.indexOf('-')
  if (dash < 0) return /^[0-9a-fA-F]+$/.test(first) && [40, 64, 96, 128].includes(first.length) ? first.toLowerCase() : null
  const len = DIGEST_BYTES[first.slice(0, dash)]
  const b64 = first.slice(dash + 1).split('?')[0]
  if (len === undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return null
  const bytes = Buffer.from(b64, 'base64')
  return bytes.length === len ? bytes.toString('hex') : null
}

function entryAt(fields: Buffer[], i: number, into: P, store: P | null): Entry {
  const path = fields[i].toString()
  const unsafe = (why: string) => own('ERR_CACHELINK_UNSAFE_PATH', why, path, into, path)
  if (i + 3 >= fields.length) throw unsafe('the entry list is malformed')
  const rel = safeRelative(fields[i].toString('latin1'))
  if (typeof rel !== 'string') throw unsafe(rel.why)
  const flags = fields[i + 2].toString()
  const executable = flags.includes('x') ? true : flags.includes('n') ? false : null
  const size = fields[i + 3].length > 0 ? Number(fields[i + 3].toString()) : null
  const file = (src: P, bucket?: P): Kind => ({ kind: 'file', src, executable, mutable: flags.includes('m'), size: Number.isSafeInteger(size) ? size : null, bucket })
  if (flags.includes('d')) return { rel, item: { kind: 'dir' } }
  if (flags.includes('s')) {
    const bad = (why: string) => own('ERR_CACHELINK_BAD_DIGEST', why, into, null, shownRel(rel))
    if (store === null) throw bad('an entry names its file by digest, and no store was given')
    const hex = hexDigest(fields[i + 1].toString())
    if (hex === null) throw bad("the entry's digest is neither SRI (sha512-<base64>) nor hex")
    const bucket = join(store, hex.slice(0, 2))
    return { rel, item: file(join(bucket, hex.slice(2) + (executable === true ? '-exec' : '')), bucket) }
  }
  const src = asPath(fields[i + 1])
  if (flags.includes('l')) return { rel, item: { kind: 'symlink', target: src } }
  return { rel, item: file(src) }
}

const WINDOWS_BAD = /[<>:"|?*\\\x00-\x1f]/
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i

/** paths.rs `safe_relative`: plain names joined by `/`, or why not. */
export function safeRelative(path: string): string | { why: string } {
  if (path.includes('\0')) return { why: 'the path contains a NUL byte' }
  if (path.startsWith('/')) return { why: 'the path is absolute' }
  const names: string[] = []
  for (const name of path.split('/')) {
    if (name === '' || name === '.') continue
    if (name === '..') return { why: "the path climbs out with '..'" }
    if (process.platform === 'win32') {
      if (WINDOWS_BAD.test(name)) return { why: 'the name has a character Windows does not allow in names' }
      if (WINDOWS_RESERVED.test(name)) return { why: 'the name is reserved on Windows' }
      if (/[. ]$/.test(name)) return { why: 'the name ends with a dot or a space, which Windows drops' }
    }
    names.push(name)
  }
  if (names.length === 0) return { why: 'the path is empty' }
  return names.join('/')
}

function sameItem(a: Kind, b: Kind): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

const SAME_PATH = 'two entries name the same path with different sources'
const SAME_FOLDED = 'two entries name paths that differ only in case, and the destination does not tell case apart'
const FILE_AND_DIR = 'an entry is a file or symlink where other entries need a directory'

function conflict(why: string, into: P, rel: string): NativeError {
  return own('ERR_CACHELINK_ENTRY_CONFLICT', why, shown(join(into, rel)), null, shownRel(rel))
}

/** ASCII case folding, as conflicts.rs folds names. */
function fold(rel: string): string {
  return rel.replace(/[A-Z]/g, (c) => c.toLowerCase())
}

/**
 * conflicts.rs `settle`: the same path twice, the same thing: the later is dropped; different
 * things: `onConflict`. Paths that differ only in case: the same, only where the destination
 * folds case (`foldsCase`, asked once and only when such a pair exists). A file whose path
 * another entry needs as a directory: always an error.
 */
export function* settle(
  entries: Entry[],
  onConflict: NativeImportOptions['onConflict'],
  into: P,
  foldsCase: () => Step<boolean>,
): Step<[Entry[], number]> {
  const at = new Map<string, number>()
  const keep = entries.map(() => true)
  let conflicts = 0
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    const first = at.get(e.rel)
    if (first === undefined) {
      at.set(e.rel, i)
      continue
    }
    if (sameItem(entries[first].item, e.item)) {
      keep[i] = false
      continue
    }
    conflicts++
    if (onConflict === 'error') throw conflict(SAME_PATH, into, e.rel)
    if (onConflict === 'first') keep[i] = false
    else {
      keep[first] = false
      at.set(e.rel, i)
    }
  }
  // Case pairs: (the first of a folded name, a later one that differs from it).
  const byFold = new Map<string, number>()
  const pairs: Array<[number, number]> = []
  for (let i = 0; i < entries.length; i++) {
    if (!keep[i]) continue
    const f = fold(entries[i].rel)
    const first = byFold.get(f)
    if (first === undefined) byFold.set(f, i)
    else pairs.push([first, i])
  }
  if (pairs.length > 0 && (yield* foldsCase())) {
    for (const [first, later] of pairs) {
      if (!keep[first] || !keep[later]) continue
      if (sameItem(entries[first].item, entries[later].item)) {
        keep[later] = false
        continue
      }
      conflicts++
      if (onConflict === 'error') throw conflict(SAME_FOLDED, into, entries[later].rel)
      if (onConflict === 'first') keep[later] = false
      else keep[first] = false
    }
  }
  const left = entries.filter((_, i) => keep[i])
  const files = new Set(left.filter((e) => e.item.kind !== 'dir').map((e) => e.rel))
  for (const e of left) {
    for (let d = parentOf(e.rel); d !== ''; d = parentOf(d)) {
      if (files.has(d)) throw conflict(FILE_AND_DIR, into, d)
    }
  }
  return [left, conflicts]
}

/** existing.rs `folds_case`: a temp made in `dir`, looked up by its name in upper case. */
function* foldsCase(dir: P): Step<boolean> {
  const probe = pathBeside(join(dir, 'case'))
  try {
    yield* op('createExclusive', probe, 0o600)
  } catch (e) {
    throw fail(e, 'open', probe)
  }
  try {
    // The temp's name is ASCII (`.case.cachelink-...`); the directory's bytes stay as they are.
    const name = bytesOf(probe).subarray(bytesOf(dir).length + SEP.length).toString('latin1')
    yield* op('lstat', join(dir, name.toUpperCase()))
    return true
  } catch {
    return false
  } finally {
    yield* removeQuietly(probe)
  }
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/')
  return i < 0 ? '' : rel.slice(0, i)
}

/** Every directory the entries need, parents first. */
function neededDirs(entries: Entry[]): string[] {
  const seen = new Set<string>()
  for (const e of entries) {
    for (let d = e.item.kind === 'dir' ? e.rel : parentOf(e.rel); d !== '' && !seen.has(d); d = parentOf(d)) seen.add(d)
  }
  return [...seen].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

interface Target {
  into: P
  root: P
  stage: P | null
  fresh: boolean
  /** Parents of `into` this import created, removed again unless it completes. */
  parents: P[]
  /** Replace: the stage trades places with `into`, carrying these over. */
  swap: string[] | null
}

function* openTarget(into: P, o: NativeImportOptions): Step<Target> {
  let exists = true
  try {
    yield* op('lstat', into)
  } catch (e) {
    if (!is(e, 'ENOENT')) throw fail(e, 'mkdir', into)
    exists = false
  }
  function* staged(parents: P[], swap: string[] | null): Step<Target> {
    const stage = stageBeside(into)
    try {
      yield* op('mkdir', stage, 0o777)
    } catch (e) {
      throw fail(e, 'mkdir', stage)
    }
    return { into, root: stage, stage, fresh: true, parents, swap: swap?.map((k) => Buffer.from(k).toString('latin1')) ?? null }
  }
  if (exists) {
    if (o.onExisting === 'error') throw coded('EEXIST', 'mkdir', into)
    if (o.onExisting === 'merge') return { into, root: into, stage: null, fresh: false, parents: [], swap: null }
    yield* checkKeep(into, o.keep.map((k) => Buffer.from(k).toString('latin1')))
    return yield* staged([], o.keep)
  }
  const parents = yield* makeParents(into)
  if (!o.atomic) {
    try {
      yield* op('mkdir', into, 0o777)
    } catch (e) {
      throw fail(e, 'mkdir', into)
    }
    return { into, root: into, stage: null, fresh: true, parents, swap: null }
  }
  return yield* staged(parents, null)
}

function* makeParents(into: P): Step<P[]> {
  const missing: P[] = []
  for (let d = dirOf(into); ; d = dirOf(d)) {
    try {
      yield* op('lstat', d)
      break
    } catch (e) {
      if (!is(e, 'ENOENT')) throw fail(e, 'mkdir', d)
      missing.push(d)
    }
    if (samePath(dirOf(d), d)) break
  }
  const made: P[] = []
  for (const d of missing.reverse()) {
    try {
      yield* op('mkdir', d, 0o777)
      made.push(d)
    } catch (e) {
      if (!(is(e, 'EEXIST') && (yield* op('isDir', d)))) throw fail(e, 'mkdir', d)
    }
  }
  return made
}

/** Removes what an import that did not complete made: its stage, the parents it created. */
function* undo(t: Target): Step<void> {
  if (t.stage !== null) yield* op('rmTree', t.stage)
  for (const d of [...t.parents].reverse()) {
    try {
      yield* op('rmdir', d)
    } catch {
      break
    }
  }
}

/**
 * Puts a stage in place (batch/target.rs `commit`, existing.rs `swap_in`); returns the retries
 * that took (retry.ts).
 */
function* commit(t: Target): Step<number> {
  const count = { retries: 0 }
  if (t.stage === null) return 0
  const renameOrFail = (from: P, to: P) => retrying('rename', [from, to], count, () => renameOnce(from, to))
  if (t.swap !== null) {
    try {
      yield* swapIn(t.stage, t.into, t.swap, count)
    } catch (e) {
      yield* undo(t)
      throw e
    }
    // The old tree is at the stage's name now. A removal that still fails after its retries
    // is left (`cleanTemp` recognizes a stage).
    const old = t.stage
    try {
      yield* retrying('unlink', [], count, () => op('rmTree', old))
    } catch {}
    return count.retries
  }
  // No RENAME_NOREPLACE in Node: checked absent, then renamed.
  let present = true
  try {
    yield* op('lstat', t.into)
  } catch {
    present = false
  }
  if (present) {
    yield* undo(t)
    throw coded('EEXIST', 'rename', t.into)
  }
  try {
    yield* renameOrFail(t.stage, t.into)
  } catch (e) {
    yield* undo(t)
    throw e
  }
  return count.retries
}

function* renameOnce(from: P, to: P): Step<void> {
  try {
    yield* op('rename', from, to)
  } catch (e) {
    throw fail(e, 'rename', from, to)
  }
}

/**
 * existing.rs `in_place`: `into` already holds exactly the entries: each file is the cache
 * file's own inode (not for a mutable entry) or a file of its own with the same bytes and mode,
 * each symlink points where its entry says, each directory is one, and nothing else is there
 * (but the paths in `keep`, not looked into). `into` and every folder the entries need must be a
 * directory: a symlink there is not in place, even one named in `keep`. Any doubt is `false`
 * (the caller then replaces).
 */
function* inPlace(entries: Entry[], into: P, keep: string[]): Step<boolean> {
  try {
    if (!(yield* op('lstat', into)).isDirectory()) return false
    const dirs = new Set<string>()
    for (const e of entries) {
      // The folders above the entry, deepest first: each looked at once, without following.
      for (let d = parentOf(e.rel); d !== '' && !dirs.has(d); d = parentOf(d)) {
        dirs.add(d)
        if (!(yield* op('lstat', join(into, d))).isDirectory()) return false
      }
      if (!(yield* entryInPlace(e, into))) return false
    }
  } catch {
    return false
  }
  const wanted = new Set<string>()
  for (const e of entries) for (let r = e.rel; r !== '' && !wanted.has(r); r = parentOf(r)) wanted.add(r)
  const keeps = new Set(keep.map((k) => Buffer.from(k).toString('latin1')))
  const dirs = ['']
  try {
    while (dirs.length > 0) {
      const rel = dirs.pop()!
      for (const item of yield* op('readdirRaw', join(into, rel))) {
        const name = item.name.toString('latin1')
        const r = rel === '' ? name : `${rel}/${name}`
        if (keeps.has(r)) continue
        if (!wanted.has(r)) return false
        if (item.isDirectory()) dirs.push(r)
      }
    }
  } catch {
    return false
  }
  return true
}

function* entryInPlace(e: Entry, into: P): Step<boolean> {
  const dest = join(into, e.rel)
  const there = yield* op('lstat', dest)
  const item = e.item
  if (item.kind === 'dir') return there.isDirectory()
  if (item.kind === 'symlink') return there.isSymbolicLink() && samePath(yield* op('readlink', dest), item.target)
  const meta = yield* op('stat', item.src)
  if (!there.isFile() || there.size !== meta.size) return false
  if (there.dev === meta.dev && there.ino === meta.ino) return !item.mutable
  const have = Number(there.mode)
  const base = Number(meta.mode)
  const modeOk =
    process.platform === 'win32'
      ? (have & 0o200) === (base & 0o200)
      : item.executable !== null
        ? ((have & 0o111) !== 0) === item.executable
        : (have & 0o7777) === (base & 0o7777)
  if (!modeOk) return false
  // Files of an installed package are small: compared whole.
  const [a, b] = [yield* op('readFile', item.src), yield* op('readFile', dest)]
  return a.equals(b)
}

function emptyStats(): ImportStats {
  return {
    files: 0, dirs: 0, cloned: 0, hardlinked: 0, copied: 0, symlinked: 0, resets: 0, bytesCopied: 0,
    elapsedMs: 0, method: null, kept: 0, emptyCreated: 0, linkLimitCopies: 0, readonlyCacheCopies: 0,
    linkRefusedCopies: 0, maxLinksUnchecked: 0, conflicts: 0, fallbacks: [], retries: 0,
  }
}

/**
 * batch.rs `import_pending` and the workers' `one`, then the commit (or a held one).
 * `check`: each file's source is checked before it is placed (batch.rs `check_sources`:
 * importFiles and importPackages; README, "The store's trust model").
 */
export function* importEntries(entries: Entry[], into: P, o: NativeImportOptions, control: Control, check = false, known: Known = new Map()): Step<ImportStats> {
  const started = performance.now()
  control.total = entries.length
  let exists = true
  try {
    yield* op('lstat', into)
  } catch {
    exists = false
  }
  // Before anything is written: an `into` that is or holds a source (sources.ts).
  if (exists) yield* refuseIntoSources(fileSources(entries), into, known)
  let conflicts: number
  let target: Target
  if (o.onExisting === 'skip-if-linked' && exists) {
    // Skip-if-linked into an existing directory looks before it writes anything (no stage).
    ;[entries, conflicts] = yield* settle(entries, o.onConflict, into, () => foldsCase(into))
    if (yield* inPlace(entries, into, o.keep)) {
      control.total = entries.length
      control.done = entries.length
      const stats = emptyStats()
      stats.kept = entries.filter((e) => e.item.kind !== 'dir').length
      stats.conflicts = conflicts
      stats.elapsedMs = performance.now() - started
      return stats
    }
    target = yield* openTarget(into, o)
  } else {
    target = yield* openTarget(into, o)
    const root = target.root
    try {
      ;[entries, conflicts] = yield* settle(entries, o.onConflict, into, () => foldsCase(root))
    } catch (e) {
      yield* undo(target)
      throw e
    }
  }
  // Duplicates dropped: the total is what is left to place, so progress reaches it.
  control.total = entries.length
  const t = target
  const unstaged = (e: unknown) => {
    // Not ENAMETOOLONG: a legal destination whose stage's longer name went over PATH_MAX names
    // the stage path, the one that was too long (as batch/target.rs's `unstaged`).
    if (t.stage !== null && e instanceof Error && (e as NativeError).code !== 'ENAMETOOLONG') {
      const n = e as NativeError
      // Errors show paths as text (U+FFFD for bytes that are not UTF-8); the stage's name ends
      // in ASCII, so a path under it shows as the stage's text and the rest.
      const [stage, into] = [shown(t.stage), shown(t.into)]
      const fix = (p: string | undefined) => (p?.startsWith(stage) ? into + p.slice(stage.length) : p)
      if (typeof n.path === 'string') n.path = fix(n.path)!
      if (typeof n.dest === 'string') n.dest = fix(n.dest)
    }
    return e
  }
  let stats: ImportStats
  try {
    stats = yield* run(t, entries, o, control, check)
  } catch (e) {
    yield* undo(t)
    throw unstaged(e)
  }
  stats.conflicts = conflicts
  stats.elapsedMs = performance.now() - started
  if (control.holdCommit) {
    control.held = { commit: () => runSync(commit(t)), rollback: () => runSync(undo(t)), root: t.root }
  } else {
    stats.retries += yield* commit(t)
  }
  return stats
}

function* run(t: Target, entries: Entry[], io: NativeImportOptions, control: Control, check: boolean): Step<ImportStats> {
  const stats = emptyStats()
  const link = fromNative(io.link)
  if (t.fresh) link.ifExists = 'error'
  const methods = chain(link)
  const mutableMethods = withoutLinks(methods)
  const dirs = neededDirs(entries)
  if (!t.fresh) {
    for (const d of dirs) {
      const path = join(t.root, d)
      try {
        if (!(yield* op('lstat', path)).isDirectory()) {
          throw own('ERR_CACHELINK_UNSAFE_PATH', 'a directory of this path under the destination is a symlink or a file', shown(path), null, shownRel(d))
        }
      } catch (e) {
        if (!is(e, 'ENOENT')) throw e instanceof Error && (e as NativeError).cachelink ? e : fail(e, 'stat', path)
      }
    }
  }
  for (const d of dirs) {
    const path = join(t.root, d)
    try {
      yield* op('mkdir', path, 0o777)
      stats.dirs++
    } catch (e) {
      if (!(is(e, 'EEXIST') && !t.fresh)) throw Object.assign(fail(e, 'mkdir', path), { entry: shownRel(d) })
    }
  }
  const counts: Record<Method, number> = { hardlink: 0, clone: 0, copy: 0, symlink: 0 }
  // The fast path (batch.rs `fast_link`): a stat and a hard link, nothing else, when the import
  // hard-links into a fresh root without maxLinks, the entry's size was given (not empty),
  // nothing is known not to work between any places, and a file of this import was hard-linked
  // the careful way. Anything but a regular file (a symlink too: Node's link does not follow
  // it), and any failure, takes the careful path.
  const fast = methods[0] === 'hardlink' && link.maxLinks === 0 && t.fresh
  let linked = false
  // Buckets found to be real directories (batch.rs opens each once, with O_NOFOLLOW).
  const buckets = new Set<string>()
  const trustStore = io.trustStore === true
  const fallbacks = new Map<string, { method: Method; code: string; count: number }>()
  // One file after the other: the sync and the sliced drivers make one call at a time.
  for (const e of entries) {
    if (control.aborted) throw own('ABORT_ERR', 'the import was aborted', t.into)
    try {
      yield* one(e)
    } catch (err) {
      if (err instanceof Error && (err as NativeError).cachelink && (err as NativeError).entry === undefined) (err as NativeError).entry = shownRel(e.rel)
      throw err
    }
    control.done++
  }
  if (control.aborted) throw own('ABORT_ERR', 'the import was aborted', t.into)
  stats.hardlinked = counts.hardlink
  stats.cloned = counts.clone
  stats.copied = counts.copy
  stats.symlinked = counts.symlink
  let best: Method | null = null
  for (const m of ['hardlink', 'clone', 'copy', 'symlink'] as Method[]) if (counts[m] > 0 && (best === null || counts[m] > counts[best])) best = m
  stats.method = best
  stats.fallbacks = sortFallbacks([...fallbacks.values()])
  return stats

  function* checkSource(item: { src: P; size: number | null; bucket?: P }, target: P, syscall: string): Step<void> {
    yield* checkSourceIn(buckets, item, target, syscall)
  }

  function* one(e: Entry): Step<void> {
    const target = join(t.root, e.rel)
    const item = e.item
    if (item.kind === 'dir') return
    if (item.kind === 'symlink') {
      try {
        yield* op('symlink', item.target, target)
      } catch (err) {
        throw fail(err, 'symlink', item.target, target)
      }
      counts.symlink++
      stats.files++
      return
    }
    const ms = item.mutable ? mutableMethods : methods
    // batch.rs `one`: checked before any path, unless the store is trusted and this is its file.
    let checked = false
    if (check && !(trustStore && item.bucket !== undefined && buckets.has(shown(item.bucket)))) {
      yield* checkSource(item, target, syscallOf(ms[0]))
      checked = true
    }
    if (fast && linked && !item.mutable && item.size !== null && item.size > 0 && !memo.anyUnsupported()) {
      if (checked || (yield* op('isFile', item.src))) {
        try {
          yield* op('link', item.src, target)
          counts.hardlink++
          stats.files++
          return
        } catch {}
      }
    }
    if (check && !checked) yield* checkSource(item, target, syscallOf(ms[0]))
    const [src, meta] = yield* source(item.src, target, syscallOf(ms[0]))
    const m = new Materialize(src, meta, link, ms, null, t.stage !== null)
    const outcome = yield* m.place(target)
    for (const f of outcome.fallbacks) {
      const key = `${f.method}:${f.code}`
      const slot = fallbacks.get(key)
      if (slot) slot.count++
      else fallbacks.set(key, { ...f, count: 1 })
    }
    if (outcome.linkRefused !== null) stats.linkRefusedCopies++
    if (outcome.linkCounts !== null) stats.maxLinksUnchecked++
    stats.retries += outcome.retries
    if (outcome.linkLimit === 'reset') stats.resets++
    else if (outcome.linkLimit === 'copy') stats.linkLimitCopies++
    else if (outcome.linkLimit === 'copy-readonly-cache' && outcome.method === 'copy') stats.readonlyCacheCopies++
    if (outcome.method === null) {
      stats.kept++
      return
    }
    if (outcome.method === 'hardlink' && outcome.linkLimit === null) linked = true
    if (outcome.method === 'copy' && meta.size === 0n) stats.emptyCreated++
    else {
      counts[outcome.method]++
      if (outcome.method === 'copy') stats.bytesCopied += Number(meta.size)
    }
    stats.files++
    if (item.executable !== null && (outcome.method === 'copy' || outcome.method === 'clone') && process.platform !== 'win32') {
      const mode = Number(meta.mode & 0o7777n)
      const wanted = item.executable ? mode | ((mode & 0o444) >> 2) : mode & ~0o111
      if (wanted !== mode) {
        try {
          yield* op('chmod', target, wanted)
        } catch (err) {
          throw fail(err, 'chmod', target)
        }
      }
    }
  }
}

/**
 * batch.rs `check_source`: a regular file (EISDIR for a directory, EINVAL for anything else),
 * never followed through a symlink (the file itself, or a store's bucket), of the entry's size
 * when given (`ERR_CACHELINK_STORE_MISMATCH`). Node's fs has no `fstatat`: the bucket and the
 * file are each `lstat`ed by path (the bucket once per import).
 */
function* checkSourceIn(
  buckets: Set<string>,
  item: { src: P; size: number | null; bucket?: P },
  target: P,
  syscall: string,
): Step<void> {
  try {
    if (item.bucket !== undefined && !buckets.has(shown(item.bucket))) {
      if (!(yield* op('lstat', item.bucket)).isDirectory()) throw coded('EINVAL', syscall, item.src, target)
      buckets.add(shown(item.bucket))
    }
    const meta = yield* op('lstat', item.src)
    if (meta.isDirectory()) throw coded('EISDIR', syscall, item.src, target)
    if (!meta.isFile()) throw coded('EINVAL', syscall, item.src, target)
    if (item.size !== null && meta.size !== BigInt(item.size)) {
      const err = coded('ERR_CACHELINK_STORE_MISMATCH', syscall, item.src, target)
      err.detail = STORE_MISMATCH
      throw err
    }
  } catch (e) {
    throw fail(e, syscall, item.src, target)
  }
}

/** batch.rs `STORE_MISMATCH`. */
const STORE_MISMATCH = "the source's size is not the size its index entry gives"

const FUSE_HIDDEN = Buffer.from('.fuse_hidden')

/**
 * tree.rs: the entries of a directory (files, subdirectories, symlinks as symlinks, exec bits);
 * cachelink's own temps and stages (`isOwn`) are not entries.
 */
export function* treeEntries(src: P): Step<Entry[]> {
  let meta: BigIntStats
  try {
    meta = yield* op('stat', src)
  } catch (e) {
    throw fail(e, 'scandir', src)
  }
  if (!meta.isDirectory()) throw coded('ENOTDIR', 'scandir', src)
  const out: Entry[] = []
  function* walk(dir: Buffer, rel: string): Step<void> {
    let list
    for (let tries = 1; ; tries++) {
      try {
        list = yield* op('readdirRaw', dir)
        break
      } catch (e) {
        // Where the listing gives no types (FUSE), Node asks each name's with lstat, and a name
        // gone meanwhile (a temp another process's reset renamed, FUSE's `.fuse_hidden*` of a
        // replaced file) fails the whole listing: list again (tree.rs skips such a name).
        if (!is(e, 'ENOENT') || tries >= 8 || !(yield* op('isDir', dir))) throw fail(e, 'scandir', dir)
      }
    }
    list.sort((a, b) => Buffer.compare(a.name, b.name))
    for (const item of list) {
      // Cachelink's own temps and stages are not part of the tree: in a cache, other processes'
      // resets make and rename them away while this walk runs.
      if (isOwn(item.name, item)) continue
      // tree.rs `FUSE_HIDDEN`: libfuse's name for a file unlinked while open (a replaced entry's
      // old inode), gone at the close.
      if (item.name.subarray(0, FUSE_HIDDEN.length).equals(FUSE_HIDDEN)) continue
      const path = Buffer.concat([dir, SEP, item.name])
      const name = item.name.toString('latin1')
      const r = rel === '' ? name : `${rel}/${name}`
      if (item.isDirectory()) {
        out.push({ rel: r, item: { kind: 'dir' } })
        yield* walk(path, r)
      } else if (item.isSymbolicLink()) {
        out.push({ rel: r, item: { kind: 'symlink', target: yield* op('readlink', path) } })
      } else if (item.isFile()) {
        out.push({ rel: r, item: { kind: 'file', src: asPath(path), executable: null, mutable: false, size: null } })
      }
    }
  }
  yield* walk(bytesOf(src), '')
  return out
}

/** The file entries' sources. */
function* fileSources(entries: Entry[]): Generator<Source> {
  for (const e of entries) if (e.item.kind === 'file') yield { src: e.item.src, rel: shownRel(e.rel) }
}

export function* importFiles(records: Buffer, into: P, o: NativeImportOptions, control: Control): Step<ImportStats> {
  return yield* importEntries(parseEntries(records, into), into, o, control, true)
}

/**
 * packages.rs `Install`, one package after the other: every package parsed first (bad input
 * writes nothing), then each imported as `importFiles` imports one, into its stage, counting into
 * the install's progress; the stages are put in place in order at the end, or all removed
 * (in reverse order, so the folders each made above its own go too) when anything failed.
 * A package nested in another (`outer`, at `rel` below it) is imported after it, into where
 * that one's files are (its stage), and put in place just before it.
 */
export function* importPackages(
  added: Added[],
  store: P | null,
  o: NativeImportOptions,
  control: Control,
): Step<ImportPackagesStats> {
  const started = performance.now()
  const packages = added.map((a) => ({ ...a, entries: parsePackage(a.records, a.into, store) }))
  const sum = emptyStats()
  const { pre, post } = nestedOrder(packages.map((p) => p.outer))
  type Held = NonNullable<Control['held']>
  const held: Held[] = []
  const byIndex = new Map<number, Held>()
  const placed = new Map<number, { root: P; into: P }>()
  const known: Known = new Map()
  const rollback = () => {
    for (const h of held.reverse()) h.rollback()
    held.length = 0
  }
  try {
    for (const i of pre) {
      const pkg = packages[i]
      if (control.aborted) throw own('ABORT_ERR', 'the import was aborted', pkg.into)
      const base = pkg.outer === null || pkg.outer === undefined ? null : placed.get(pkg.outer)!
      const at = base === null ? pkg.into : join(base.root, pkg.rel!.toString('latin1').split(sep).join('/'))
      const one = part(control)
      try {
        addStats(sum, yield* importEntries(pkg.entries, at, o, one, true, known))
      } catch (e) {
        throw base === null ? e : unstageNested(e, base.root, base.into)
      }
      if (one.held !== null) {
        held.push(one.held)
        byIndex.set(i, one.held)
      }
      placed.set(i, { root: one.held?.root ?? at, into: pkg.into })
    }
  } catch (e) {
    rollback()
    throw e
  }
  // Put in place nested packages first (each inside its outer's stage), then their outer.
  held.length = 0
  for (const i of post) if (byIndex.has(i)) held.push(byIndex.get(i)!)
  const commitAll = () => {
    let retries = 0
    while (held.length > 0) {
      const h = held.shift()!
      try {
        retries += h.commit()
      } catch (e) {
        h.rollback()
        rollback()
        throw e
      }
    }
    return retries
  }
  if (control.holdCommit) control.held = { commit: commitAll, rollback }
  else sum.retries += commitAll()
  sum.elapsedMs = performance.now() - started
  return { stats: sum, packages: packages.length }
}

/** The JS twin of the addon's `PackageInstall`: packages are kept as added and imported at `finish`. */
/** A package as added: nested in the package `outer` (its index), at `rel` below its folder. */
interface Added {
  into: P
  records: Buffer
  outer?: number | null
  rel?: Buffer | null
}

export class PackageInstall {
  private readonly added: Added[] = []
  private cancelled = false
  private readonly store: P | null

  constructor(
    store: P | null | undefined,
    private readonly o: NativeImportOptions,
    private readonly control: Control,
  ) {
    this.store = store ?? null
  }

  add(into: P, records: Buffer, files: number, outer?: number | null, rel?: Buffer | null): void {
    this.control.total += files
    this.added.push({ into, records: Buffer.from(records), outer, rel })
  }

  private *run(): Step<ImportPackagesStats> {
    if (this.cancelled) throw own('ABORT_ERR', 'the import was aborted', '')
    return yield* importPackages(this.added, this.store, this.o, this.control)
  }

  finish(): Promise<ImportPackagesStats> {
    return runSliced(this.run())
  }

  finishSync(): ImportPackagesStats {
    return runSync(this.run())
  }

  cancel(): void {
    this.cancelled = true
  }
}

/** A package's own `Control`: its files count into the install's, the install's abort stops it. */
function part(outer: Control): Control {
  let done = 0
  const one = {
    get done() {
      return done
    },
    set done(v: number) {
      outer.done += v - done
      done = v
    },
    total: 0,
    get aborted() {
      return outer.aborted
    },
    holdCommit: true,
    held: null,
    abort: () => outer.abort(),
    commit: () => 0,
    rollback: () => {},
  }
  return one as unknown as Control
}

/** The engine's order of fallbacks: by method (clone, hardlink, copy, symlink), then code. */
function sortFallbacks<F extends { method: string; code: string }>(list: F[]): F[] {
  const rank = ['clone', 'hardlink', 'copy', 'symlink']
  return list.sort((a, b) => rank.indexOf(a.method) - rank.indexOf(b.method) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
}

/** batch.rs `Stats::add`. */
function addStats(s: ImportStats, o: ImportStats): void {
  for (const k of ['files', 'dirs', 'cloned', 'hardlinked', 'copied', 'symlinked', 'resets', 'bytesCopied', 'kept', 'emptyCreated', 'linkLimitCopies', 'readonlyCacheCopies', 'linkRefusedCopies', 'maxLinksUnchecked', 'conflicts', 'retries'] as const) {
    s[k] += o[k]
  }
  for (const f of o.fallbacks) {
    const slot = s.fallbacks.find((x) => x.method === f.method && x.code === f.code)
    if (slot) slot.count += f.count
    else s.fallbacks.push({ ...f })
  }
  sortFallbacks(s.fallbacks)
  const order = ['hardlink', 'clone', 'copy', 'symlink'] as const
  let best: ImportStats['method'] = null
  const counts = { hardlink: s.hardlinked, clone: s.cloned, copy: s.copied, symlink: s.symlinked }
  for (const m of order) if (counts[m] > 0 && (best === null || counts[m] >= counts[best])) best = m
  s.method = best
}

export function* importTree(src: P, into: P, o: NativeImportOptions, control: Control): Step<ImportStats> {
  yield* refuseIntoSource(src, into)
  return yield* importEntries(yield* treeEntries(src), into, o, control)
}

/**
 * tree.rs `refuse_into_source`: `into` is `src` or inside it, or holds it (both canonicalized;
 * `into` need not exist: its nearest existing ancestor is, the rest appended, `..` taken
 * lexically).
 */
function* refuseIntoSource(src: P, into: P): Step<void> {
  // Paths as byte strings (latin1: one char per byte), so names that are not UTF-8 compare and
  // split on their bytes; given to fs as those bytes again.
  const text = (p: P) => bytesOf(p).toString('latin1')
  const path = (t: string) => Buffer.from(t, 'latin1')
  let srcReal: string
  try {
    srcReal = text(yield* op('realpath', src))
  } catch {
    return // left to the walk, which says why
  }
  const parts = text(resolvePath(into)).split(sep).filter((p) => p !== '')
  let intoReal: string | null = null
  for (let existing = parts.length; existing >= 0 && intoReal === null; existing--) {
    try {
      let real = text(yield* op('realpath', path(sep + parts.slice(0, existing).join(sep))))
      for (const part of parts.slice(existing)) real = part === '..' ? dirname(real) : pjoin(real, part)
      intoReal = real
    } catch {}
  }
  if (intoReal === null) return
  if (within(intoReal, srcReal)) throw own('ERR_CACHELINK_INTO_SOURCE', 'cannot import a directory into itself or a subdirectory of itself', src, into)
  // `replace` would delete the source with the old `into`.
  if (within(srcReal, intoReal)) throw own('ERR_CACHELINK_INTO_SOURCE', HOLDS_SOURCE, src, into)
}

export { removeQuietly }
