/**
 * `importFiles` and `importTree` for the JS backend: crate/src/engine/batch.rs, batch/target.rs,
 * conflicts.rs, existing.rs, tree.rs and wire.rs, one file at a time on the calling thread
 * (sync) or one `fs.promises` call at a time (async).
 *
 * Done: the wire format and path safety; same-path duplicates and conflicts (`onConflict`),
 * a file that is also a needed directory; a stage beside `into` renamed there when complete
 * (`atomic`), a fresh `into` (`atomic: false`), merge into an existing one (`link.ifExists`),
 * `onExisting: 'error'`, `'replace'` (a stage traded in by two renames, `keep` carried over)
 * and `'skip-if-linked'` (nothing written when every file already is its cache inode);
 * directory and symlink entries, `executable`, `mutable`, the stats, progress and abort
 * between files, a held commit (`Control`).
 *
 * Not yet (JSBACKEND-STATUS.md): case-folding conflicts (`GiHeadshot.js` / `GiHeadShot.js` on
 * APFS and NTFS), `skip-if-linked` accepting identical copies, non-UTF-8 names (paths are
 * handled as strings here), parallel workers (`threads` is ignored).
 * Node cannot: RENAME_EXCHANGE (a replace leaves `into` missing between its two renames) and
 * RENAME_NOREPLACE (a stage is renamed to `into` after checking it is absent).
 * @module
 */
import type { BigIntStats } from 'node:fs'
import { join } from 'node:path'
import type { ImportStats, NativeImportOptions } from '../binding.js'
import type { NativeError } from '../native.js'
import type { Control } from './control.js'
import { coded, fail, is } from './error.js'
import { Materialize, removeQuietly, source } from './link.js'
import { chain, fromNative, type Method, syscallOf, withoutLinks } from './method.js'
import { op, runSync, type P, type Step } from './ops.js'
import { dirOf, stageBeside } from './temp.js'

type Kind =
  | { kind: 'file'; src: string; executable: boolean | null; mutable: boolean }
  | { kind: 'symlink'; target: string }
  | { kind: 'dir' }

export interface Entry {
  /** Plain names joined by `/`. */
  rel: string
  item: Kind
}

function own(code: string, detail: string, path: string, dest?: string | null, entry?: string): NativeError {
  const err = coded(code, code === 'ABORT_ERR' ? 'import' : 'import', path, dest)
  err.detail = detail
  if (entry !== undefined) err.entry = entry
  return err
}

/** wire.rs `parse_entries`: `path\0src\0flags\0size\0...`, checked before anything is written. */
export function parseEntries(records: Buffer, into: string): Entry[] {
  if (records.length === 0) return []
  const fields: Buffer[] = []
  let start = 0
  for (let i = 0; i <= records.length; i++) {
    if (i === records.length || records[i] === 0) {
      fields.push(records.subarray(start, i))
      start = i + 1
    }
  }
  const out: Entry[] = []
  for (let i = 0; i < fields.length; i += 4) {
    const path = fields[i].toString()
    const unsafe = (why: string) => own('ERR_CACHELINK_UNSAFE_PATH', why, path, into, path)
    if (i + 3 >= fields.length) throw unsafe('the entry list is malformed')
    const rel = safeRelative(path)
    if (typeof rel !== 'string') throw unsafe(rel.why)
    const flags = fields[i + 2].toString()
    const src = fields[i + 1].toString()
    let item: Kind
    if (flags.includes('d')) item = { kind: 'dir' }
    else if (flags.includes('l')) item = { kind: 'symlink', target: src }
    else {
      const executable = flags.includes('x') ? true : flags.includes('n') ? false : null
      item = { kind: 'file', src, executable, mutable: flags.includes('m') }
    }
    out.push({ rel, item })
  }
  return out
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

/**
 * conflicts.rs `settle` (without the case-folding pass): the same path twice, the same thing:
 * the later is dropped; different things: `onConflict`. A file whose path another entry needs
 * as a directory: always an error.
 */
export function settle(entries: Entry[], onConflict: NativeImportOptions['onConflict'], into: string): [Entry[], number] {
  const at = new Map<string, number>()
  const keep = entries.map(() => true)
  let conflicts = 0
  entries.forEach((e, i) => {
    const first = at.get(e.rel)
    if (first === undefined) {
      at.set(e.rel, i)
      return
    }
    if (sameItem(entries[first].item, e.item)) {
      keep[i] = false
      return
    }
    if (onConflict === 'error') {
      throw own('ERR_CACHELINK_ENTRY_CONFLICT', 'two entries name this path with different contents', join(into, e.rel), null, e.rel)
    }
    conflicts++
    if (onConflict === 'first') keep[i] = false
    else {
      keep[first] = false
      at.set(e.rel, i)
    }
  })
  const left = entries.filter((_, i) => keep[i])
  const files = new Set(left.filter((e) => e.item.kind !== 'dir').map((e) => e.rel))
  for (const e of left) {
    for (let d = parentOf(e.rel); d !== ''; d = parentOf(d)) {
      if (files.has(d)) {
        throw own('ERR_CACHELINK_ENTRY_CONFLICT', 'a file of this path is also a directory of another entry', join(into, d), null, d)
      }
    }
  }
  return [left, conflicts]
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
  into: string
  root: string
  stage: string | null
  fresh: boolean
  /** Parents of `into` this import created, removed again unless it completes. */
  parents: string[]
  /** Replace: the stage trades places with `into`, carrying these over. */
  swap: string[] | null
}

function* openTarget(into: string, o: NativeImportOptions): Step<Target> {
  let exists = true
  try {
    yield* op('lstat', into)
  } catch (e) {
    if (!is(e, 'ENOENT')) throw fail(e, 'mkdir', into)
    exists = false
  }
  function* staged(parents: string[], swap: string[] | null): Step<Target> {
    const stage = stageBeside(into).toString()
    try {
      yield* op('mkdir', stage, 0o777)
    } catch (e) {
      throw fail(e, 'mkdir', stage)
    }
    return { into, root: stage, stage, fresh: true, parents, swap }
  }
  if (exists) {
    if (o.onExisting === 'error') throw coded('EEXIST', 'mkdir', into)
    if (o.onExisting === 'merge') return { into, root: into, stage: null, fresh: false, parents: [], swap: null }
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

function* makeParents(into: string): Step<string[]> {
  const missing: string[] = []
  for (let d = dirOf(into).toString(); ; d = dirOf(d).toString()) {
    try {
      yield* op('lstat', d)
      break
    } catch (e) {
      if (!is(e, 'ENOENT')) throw fail(e, 'mkdir', d)
      missing.push(d)
    }
    if (dirOf(d).toString() === d) break
  }
  const made: string[] = []
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

/** Puts a stage in place (batch/target.rs `commit`, existing.rs `swap_in`). */
function* commit(t: Target): Step<void> {
  if (t.stage === null) return
  if (t.swap !== null) {
    const moved: Array<[string, string]> = []
    const old = stageBeside(t.into).toString()
    try {
      for (const k of t.swap) {
        const [from, to] = [join(t.into, k), join(t.stage, k)]
        let meta: BigIntStats
        try {
          meta = yield* op('lstat', from)
        } catch {
          continue
        }
        let there: BigIntStats | null = null
        try {
          there = yield* op('lstat', to)
        } catch {}
        if (there === null) {
          yield* mkdirAll(dirOf(to).toString())
          yield* renameOrFail(from, to)
          moved.push([from, to])
        } else if (there.isDirectory() && meta.isDirectory()) {
          for (const item of yield* op('readdir', from)) {
            const [a, b] = [join(from, item.name), join(to, item.name)]
            let free = false
            try {
              yield* op('lstat', b)
            } catch {
              free = true
            }
            if (free) {
              yield* renameOrFail(a, b)
              moved.push([a, b])
            }
          }
        }
      }
      // No RENAME_EXCHANGE in Node: `into` aside, the stage in (into is missing in between).
      yield* renameOrFail(t.into, old)
      try {
        yield* renameOrFail(t.stage, t.into)
      } catch (e) {
        yield* op('rename', old, t.into)
        throw e
      }
    } catch (e) {
      for (const [from, to] of moved.reverse()) {
        try {
          yield* op('rename', to, from)
        } catch {}
      }
      yield* undo(t)
      throw e
    }
    yield* op('rmTree', old)
    return
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
    yield* op('rename', t.stage, t.into)
  } catch (e) {
    yield* undo(t)
    throw fail(e, 'rename', t.stage, t.into)
  }
}

function* renameOrFail(from: string, to: string): Step<void> {
  try {
    yield* op('rename', from, to)
  } catch (e) {
    throw fail(e, 'rename', from, to)
  }
}

function* mkdirAll(dir: string): Step<void> {
  if (yield* op('isDir', dir)) return
  yield* mkdirAll(dirOf(dir).toString())
  try {
    yield* op('mkdir', dir, 0o777)
  } catch (e) {
    if (!is(e, 'EEXIST')) throw fail(e, 'mkdir', dir)
  }
}

/** existing.rs `in_place` (inode check only): every file entry already is its cache inode. */
function* inPlace(entries: Entry[], into: string): Step<boolean> {
  for (const e of entries) {
    const path = join(into, e.rel)
    let there: BigIntStats
    try {
      there = yield* op('lstat', path)
    } catch {
      return false
    }
    if (e.item.kind === 'dir') {
      if (!there.isDirectory()) return false
    } else if (e.item.kind === 'symlink') {
      if (!there.isSymbolicLink() || (yield* op('readlink', path)) !== e.item.target) return false
    } else {
      let src: BigIntStats
      try {
        src = yield* op('stat', e.item.src)
      } catch {
        return false
      }
      if (src.dev !== there.dev || src.ino !== there.ino) return false
    }
  }
  // Nothing else in it: count what is there against the entries.
  const wanted = new Set(entries.map((e) => e.rel))
  for (const d of neededDirs(entries)) wanted.add(d)
  function* count(dir: string, rel: string): Step<boolean> {
    for (const item of yield* op('readdir', dir)) {
      const r = rel === '' ? item.name : `${rel}/${item.name}`
      if (!wanted.has(r)) return false
      if (item.isDirectory() && !(yield* count(join(dir, item.name), r))) return false
    }
    return true
  }
  return yield* count(into, '')
}

function emptyStats(): ImportStats {
  return {
    files: 0, dirs: 0, cloned: 0, hardlinked: 0, copied: 0, symlinked: 0, resets: 0, bytesCopied: 0,
    elapsedMs: 0, method: null, kept: 0, emptyCreated: 0, linkLimitCopies: 0, readonlyCacheCopies: 0,
    linkRefusedCopies: 0, conflicts: 0, fallbacks: [],
  }
}

/** batch.rs `import_pending` and the workers' `one`, then the commit (or a held one). */
export function* importEntries(entries: Entry[], into: string, o: NativeImportOptions, control: Control): Step<ImportStats> {
  const started = performance.now()
  control.total = entries.length
  let target: Target | null = null
  let conflicts: number
  let exists = true
  try {
    yield* op('lstat', into)
  } catch {
    exists = false
  }
  ;[entries, conflicts] = settle(entries, o.onConflict, into)
  if (o.onExisting === 'skip-if-linked' && exists && (yield* inPlace(entries, into))) {
    control.total = entries.length
    control.done = entries.length
    const stats = emptyStats()
    stats.kept = entries.filter((e) => e.item.kind !== 'dir').length
    stats.conflicts = conflicts
    stats.elapsedMs = performance.now() - started
    return stats
  }
  target = yield* openTarget(into, o)
  control.total = entries.length
  const t = target
  const unstaged = (e: unknown) => {
    if (t.stage !== null && e instanceof Error) {
      const n = e as NativeError
      const fix = (p: string | undefined) => (p?.startsWith(t.stage!) ? t.into + p.slice(t.stage!.length) : p)
      if (typeof n.path === 'string') n.path = fix(n.path)!
      if (typeof n.dest === 'string') n.dest = fix(n.dest)
    }
    return e
  }
  let stats: ImportStats
  try {
    stats = yield* run(t, entries, o, control)
  } catch (e) {
    yield* undo(t)
    throw unstaged(e)
  }
  stats.conflicts = conflicts
  stats.elapsedMs = performance.now() - started
  if (control.holdCommit) {
    control.held = { commit: () => runSync(commit(t)), rollback: () => runSync(undo(t)) }
  } else {
    yield* commit(t)
  }
  return stats
}

function* run(t: Target, entries: Entry[], io: NativeImportOptions, control: Control): Step<ImportStats> {
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
          throw own('ERR_CACHELINK_UNSAFE_PATH', 'a directory of this path under the destination is a symlink or a file', path, null, d)
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
      if (!(is(e, 'EEXIST') && !t.fresh)) throw Object.assign(fail(e, 'mkdir', path), { entry: d })
    }
  }
  const counts: Record<Method, number> = { hardlink: 0, clone: 0, copy: 0, symlink: 0 }
  const fallbacks = new Map<string, { method: Method; code: string; count: number }>()
  for (const e of entries) {
    if (control.aborted) throw own('ABORT_ERR', 'the import was aborted', t.into)
    try {
      yield* one(e)
    } catch (err) {
      if (err instanceof Error && (err as NativeError).cachelink && (err as NativeError).entry === undefined) (err as NativeError).entry = e.rel
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
  const order: Method[] = ['clone', 'hardlink', 'copy', 'symlink']
  stats.fallbacks = [...fallbacks.values()].sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method) || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
  return stats

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
    if (outcome.linkLimit === 'reset') stats.resets++
    else if (outcome.linkLimit === 'copy') stats.linkLimitCopies++
    else if (outcome.linkLimit === 'copy-readonly-cache' && outcome.method === 'copy') stats.readonlyCacheCopies++
    if (outcome.method === null) {
      stats.kept++
      return
    }
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

/** tree.rs: the entries of a directory (files, subdirectories, symlinks as symlinks, exec bits). */
export function* treeEntries(src: P, into: string): Step<Entry[]> {
  const root = src.toString()
  let meta: BigIntStats
  try {
    meta = yield* op('stat', root)
  } catch (e) {
    throw fail(e, 'scandir', root, into)
  }
  if (!meta.isDirectory()) throw coded('ENOTDIR', 'scandir', root, into)
  const out: Entry[] = []
  function* walk(dir: string, rel: string): Step<void> {
    let list
    try {
      list = yield* op('readdir', dir)
    } catch (e) {
      throw fail(e, 'scandir', dir)
    }
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const item of list) {
      const path = join(dir, item.name)
      const r = rel === '' ? item.name : `${rel}/${item.name}`
      if (item.isDirectory()) {
        out.push({ rel: r, item: { kind: 'dir' } })
        yield* walk(path, r)
      } else if (item.isSymbolicLink()) {
        out.push({ rel: r, item: { kind: 'symlink', target: yield* op('readlink', path) } })
      } else if (item.isFile()) {
        out.push({ rel: r, item: { kind: 'file', src: path, executable: null, mutable: false } })
      }
    }
  }
  yield* walk(root, '')
  return out
}

export function* importFiles(records: Buffer, into: P, o: NativeImportOptions, control: Control): Step<ImportStats> {
  const dest = into.toString()
  return yield* importEntries(parseEntries(records, dest), dest, o, control)
}

export function* importTree(src: P, into: P, o: NativeImportOptions, control: Control): Step<ImportStats> {
  const dest = into.toString()
  return yield* importEntries(yield* treeEntries(src, dest), dest, o, control)
}

export { removeQuietly }
