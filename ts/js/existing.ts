/**
 * The JS backend's replace of an existing `into` (crate/src/engine/existing.rs `swap_in`,
 * `check_keep`, existing/journal.rs): the paths in `keep` carried from the old tree into the
 * stage, never through a symlink, then `into` renamed aside and the stage renamed in (Node has
 * no RENAME_EXCHANGE: `into` is missing for that moment). A directory refused with `EXDEV`
 * (overlayfs: a lower layer's directory) is moved by pieces; every move is written down and put
 * back, last first, when anything fails.
 * @module
 */
import type { NativeError } from '../native.js'
import { coded, fail, is } from './error.js'
import { asPath, bytesOf, op, type P, type Step } from './ops.js'
import { stageBeside } from './temp.js'
import { type Retries, retrying } from './retry.js'

const SEP = Buffer.from(process.platform === 'win32' ? '\\' : '/')

/** `base` + separator + `rel` (`rel`: plain names joined by `/`, a latin1 byte string). */
function under(base: P, rel: string): P {
  const parts = rel.split('/').map((r) => Buffer.from(r, 'latin1'))
  const out: Buffer[] = [bytesOf(base)]
  for (const p of parts) out.push(SEP, p)
  return asPath(Buffer.concat(out))
}

function child(dir: P, name: Buffer): P {
  return asPath(Buffer.concat([bytesOf(dir), SEP, name]))
}

type Above = { kind: 'dirs' } | { kind: 'missing' } | { kind: 'notDir'; at: P; symlink: boolean }

/** What lies above `rel` under `root`, looked at without following symlinks. */
function* above(root: P, rel: string): Step<Above> {
  const parts = rel.split('/')
  for (let i = 1; i < parts.length; i++) {
    const path = under(root, parts.slice(0, i).join('/'))
    try {
      const m = yield* op('lstat', path)
      if (!m.isDirectory()) return { kind: 'notDir', at: path, symlink: m.isSymbolicLink() }
    } catch (e) {
      if (is(e, 'ENOENT')) return { kind: 'missing' }
      throw fail(e, 'lstat', path)
    }
  }
  return { kind: 'dirs' }
}

function belowSymlink(link: P, kept: string): NativeError {
  const err = coded('ERR_CACHELINK_UNSAFE_PATH', 'import', link)
  err.detail = 'a kept path must not lie below a symlink of the existing destination'
  err.entry = Buffer.from(kept, 'latin1').toString()
  return err
}

/** existing.rs `check_keep`: refuses a kept path below a symlink of the existing `into`. */
export function* checkKeep(into: P, keep: string[]): Step<void> {
  for (const k of keep) {
    const a = yield* above(into, k)
    if (a.kind === 'notDir' && a.symlink) throw belowSymlink(a.at, k)
  }
}

type Move = { kind: 'renamed'; from: P; to: P } | { kind: 'made'; dir: P } | { kind: 'removed'; dir: P; mode: number }

/** journal.rs: the moves of one replace, put back last first by `undo`. */
class Journal {
  /** Renames `from` to `to`; a directory refused with EXDEV is moved by pieces. */
  *rename(from: P, to: P): Step<void> {
    try {
      yield* op('rename', from, to)
      this.moves.push({ kind: 'renamed', from, to })
      return
    } catch (e) {
      if (!(is(e, 'EXDEV') && (yield* op('isDir', from)))) throw fail(e, 'rename', from, to)
    }
    yield* this.pieces(from, to, true)
  }

  /** The names in directory `from` moved into a new `to` (with `from`'s mode); `from` removed when `remove`. */
  *pieces(from: P, to: P, remove: boolean): Step<void> {
    let mode: number
    try {
      mode = Number((yield* op('lstat', from)).mode) & 0o7777
    } catch (e) {
      throw fail(e, 'lstat', from)
    }
    try {
      yield* op('mkdir', to, 0o700)
    } catch (e) {
      throw fail(e, 'mkdir', to)
    }
    this.moves.push({ kind: 'made', dir: to })
    try {
      yield* op('chmod', to, mode)
    } catch (e) {
      throw fail(e, 'chmod', to)
    }
    let names: Buffer[]
    try {
      names = (yield* op('readdirRaw', from)).map((d) => d.name)
    } catch (e) {
      throw fail(e, 'scandir', from)
    }
    for (const name of names) yield* this.rename(child(from, name), child(to, name))
    if (!remove) return
    try {
      yield* op('rmdir', from)
    } catch (e) {
      throw fail(e, 'rmdir', from)
    }
    this.moves.push({ kind: 'removed', dir: from, mode })
  }

  *undo(): Step<void> {
    for (const m of this.moves.reverse()) {
      try {
        if (m.kind === 'renamed') yield* op('rename', m.to, m.from)
        else if (m.kind === 'made') yield* op('rmdir', m.dir)
        else {
          yield* op('mkdir', m.dir, 0o700)
          yield* op('chmod', m.dir, m.mode)
        }
      } catch {}
    }
    this.moves = []
  }

  moves: Move[] = []
}

/**
 * existing.rs `swap_in`: the stage takes `into`'s place with `keep` carried over; the old tree
 * is left at the stage's name (the caller removes it). On failure everything moved is moved
 * back and `into` is unchanged. The trade's renames refused for a moment are tried again
 * (retry.ts); `count` counts the retries.
 */
export function* swapIn(stage: P, into: P, keep: string[], count: Retries = { retries: 0 }): Step<void> {
  const journal = new Journal()
  try {
    yield* carryOver(stage, into, keep, journal)
    yield* trade(stage, into, journal, count)
  } catch (e) {
    yield* journal.undo()
    throw e
  }
}

function* carryOver(stage: P, into: P, keep: string[], journal: Journal): Step<void> {
  for (const k of keep) {
    const old = yield* above(into, k)
    if (old.kind === 'notDir' && old.symlink) throw belowSymlink(old.at, k)
    if (old.kind !== 'dirs') continue
    const [from, to] = [under(into, k), under(stage, k)]
    let meta
    try {
      meta = yield* op('lstat', from)
    } catch {
      continue
    }
    const fresh = yield* above(stage, k)
    // A symlink or a file of the new tree on the way: it wins.
    if (fresh.kind === 'notDir') continue
    if (fresh.kind === 'missing') yield* mkdirAll(under(stage, k.split('/').slice(0, -1).join('/')), stage)
    let there = null
    try {
      there = yield* op('lstat', to)
    } catch {}
    if (there === null) {
      yield* journal.rename(from, to)
    } else if (there.isDirectory() && meta.isDirectory()) {
      for (const item of yield* op('readdirRaw', from)) {
        const [a, b] = [child(from, item.name), child(to, item.name)]
        let free = false
        try {
          yield* op('lstat', b)
        } catch {
          free = true
        }
        if (free) yield* journal.rename(a, b)
      }
    }
  }
}

/** Makes `dir` and its missing parents down from `root` (which exists). */
function* mkdirAll(dir: P, root: P): Step<void> {
  if (bytesOf(dir).equals(bytesOf(root)) || (yield* op('isDir', dir))) return
  const b = bytesOf(dir)
  yield* mkdirAll(asPath(b.subarray(0, b.lastIndexOf(SEP))), root)
  try {
    yield* op('mkdir', dir, 0o777)
  } catch (e) {
    if (!is(e, 'EEXIST')) throw fail(e, 'mkdir', dir)
  }
}

function* trade(stage: P, into: P, journal: Journal, count: Retries): Step<void> {
  const rename = (from: P, to: P) => retrying('rename', [from, to], count, () => op('rename', from, to))
  // No RENAME_EXCHANGE in Node: `into` aside, the stage in (into is missing in between).
  const aside = stageBeside(into)
  let whole = true
  try {
    yield* rename(into, aside)
  } catch (e) {
    if (!is(e, 'EXDEV')) throw fail(e, 'rename', into, aside)
    // overlayfs, a lower layer's directory: its names moved aside, the stage over the empty `into`.
    yield* journal.pieces(into, aside, false)
    whole = false
  }
  try {
    yield* rename(stage, into)
  } catch (e) {
    if (whole) {
      try {
        yield* op('rename', aside, into)
      } catch {}
    }
    throw fail(e, 'rename', stage, into)
  }
  // The old tree to the stage's name, where the caller removes it.
  try {
    yield* rename(aside, stage)
  } catch {
    yield* op('rmTree', aside)
  }
}
