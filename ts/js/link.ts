/**
 * `linkFile` and `resetEntry` for the JS backend: crate/src/engine/link.rs and reset.rs, step
 * for step, as generator steps (`ops.ts`) so the sync and async twins run the same code.
 *
 * What Node's fs cannot do, and what is done instead (ts/js/README.md lists them):
 * - no `flock`: racing processes at the limit are not serialized on the entry's lock
 *   (engine/lock.rs); each may reset, the last rename wins, as the native engine does where no
 *   lock can be had (Windows, NFS). Never wrong, only redundant work and more resets.
 * - no O_TMPFILE (`copy_unnamed`) and no RENAME_NOREPLACE: a copy is made as a temp beside the
 *   destination and published by a hard link (then the temp is removed), else, where links are
 *   refused, by a rename after checking the destination is absent (the native fallback for FAT).
 * - times kept through `utimes`, which libuv sets to the microsecond: the same microsecond, the
 *   nanoseconds below it dropped (`seconds` below).
 * @module
 */
import { constants } from 'node:fs'
import type { BigIntStats } from 'node:fs'
import type { LinkResult } from '../binding.js'
import type { NativeError } from '../native.js'
import { resolvePath } from '../options.js'
import { coded, fail, is, isCachelink } from './error.js'
import * as memo from './memo.js'
import { type LinkOpts, type Method, chain, classify, skipsKnownFailures, syscallOf } from './method.js'
import { op, type P, type Step } from './ops.js'
import { dirOf, heldBeside, pathBeside } from './temp.js'
import { retrying } from './retry.js'
import { mountKey } from './fsinfo.js'

/** Copies larger than this check that the destination is absent before copying. */
const EEXIST_FIRST = 1n << 20n
/** Bounded retries of a hard link while other processes reset the same entry. */
const MAX_TRIES = 8
/** With `maxLinks`, links made when the entry has at least `max - NEAR_CAP` links take the lock. */
const NEAR_CAP = 8n
/** How many times a call looks again while the entry's path names nothing. */
const VANISHED_WAITS = 64

const { COPYFILE_EXCL, COPYFILE_FICLONE_FORCE } = constants

type Limit = LinkResult['linkLimit']

export interface Outcome {
  method: Method | null
  linkLimit: Limit
  resetError: string | null
  fallbacks: Array<{ method: Method; code: string }>
  linkRefused: string | null
  /** With `maxLinks`: linked, but the source still reads one link (link counts hidden). */
  linkCounts: 'hidden' | null
  /** Transient failures waited out and tried again (retry.ts). */
  retries: number
}

function kept(): Outcome {
  return { method: null, linkLimit: null, resetError: null, fallbacks: [], linkRefused: null, linkCounts: null, retries: 0 }
}

export function toResult(o: Outcome): LinkResult {
  return {
    method: o.method ?? 'none',
    reset: o.linkLimit === 'reset',
    linkLimit: o.linkLimit,
    resetError: o.resetError,
    fallbacks: o.fallbacks,
    linkRefused: o.linkRefused,
    linkCounts: o.linkCounts,
    retries: o.retries,
  }
}

function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

/** Waits growing from 100 µs to 10 ms, `VANISHED_WAITS` of them at most. */
class Vanished {
  waits = 0;
  *wait(): Step<boolean> {
    if (this.waits >= VANISHED_WAITS) return false
    const ms = Math.min(0.1 * 2 ** Math.min(this.waits, 7), 10)
    this.waits++
    yield* op('sleep', ms)
    return true
  }
}

export function* linkFile(src: P, dest: P, o: LinkOpts): Step<LinkResult> {
  const methods = chain(o)
  const [path, meta] = yield* source(src, dest, syscallOf(methods[0]))
  const m = new Materialize(path, meta, o, methods)
  return toResult(yield* m.place(dest))
}

/** The source as a regular file (a symlink is followed to its file), with its metadata. */
export function* source(src: P, dest: P, syscall: string): Step<[P, BigIntStats]> {
  let path = src
  let meta: BigIntStats
  try {
    meta = yield* op('lstat', src)
    if (meta.isSymbolicLink()) {
      path = yield* op('realpath', src)
      meta = yield* op('stat', path)
    }
  } catch (e) {
    throw fail(e, syscall, src, dest)
  }
  if (meta.isDirectory()) throw coded('EISDIR', syscall, src, dest)
  if (!meta.isFile()) throw coded('EINVAL', syscall, src, dest)
  return [path, meta]
}

/** Removes `p`, ignoring failure (a temp's guard). */
export function* removeQuietly(p: P): Step<void> {
  try {
    yield* op('unlink', p)
  } catch {}
}

/** One file to create from a source whose metadata was read. */
export class Materialize {
  constructor(
    readonly src: P,
    readonly meta: BigIntStats,
    readonly o: LinkOpts,
    readonly methods: Method[],
    /** The destination's device when the caller knows it (a batch into one directory). */
    readonly destDev: bigint | null = null,
    /** The target is in an import's stage: a copy is made in place. */
    readonly staged = false,
  ) {}

  /** Creates `dest` under `ifExists`. */
  *place(dest: P): Step<Outcome> {
    const syscall = syscallOf(this.methods[0])
    if (this.o.ifExists === 'error') return yield* this.create(dest)
    let existing: BigIntStats
    try {
      existing = yield* op('lstat', dest)
    } catch (e) {
      if (!is(e, 'ENOENT')) throw fail(e, syscall, this.src, dest)
      try {
        return yield* this.create(dest)
      } catch (e2) {
        if (this.o.ifExists === 'keep' && is(e2, 'EEXIST')) return kept()
        throw e2
      }
    }
    if (this.o.ifExists === 'keep') return kept()
    if (existing.isDirectory()) throw coded('EISDIR', syscall, this.src, dest)
    if (sameFile(existing, this.meta)) return kept()
    // Materialize beside the destination, then rename over it: never missing, never partial.
    const tmp = pathBeside(dest)
    try {
      const outcome = yield* this.create(tmp)
      try {
        yield* retrying('rename', [tmp, dest], outcome, () => op('rename', tmp, dest))
      } catch (e) {
        throw fail(e, 'rename', tmp, dest)
      }
      return outcome
    } catch (e) {
      yield* removeQuietly(tmp)
      throw e
    }
  }

  /** Creates `target`, which must not exist, walking the method chain. */
  *create(target: P): Step<Outcome> {
    const outcome = kept()
    // Empty files are created, not linked (the most linked content of any store).
    if (this.meta.size === 0n && this.methods[0] !== 'symlink') {
      yield* this.copy(target)
      outcome.method = 'copy'
      return outcome
    }
    const srcDev = this.meta.dev
    const self = this
    // The memo's key: the source's mount and the destination directory's (`mountKey`).
    function* mounts(): Step<string | null> {
      let destDev = self.destDev
      const dir = dirOf(target)
      if (destDev === null) {
        try {
          destDev = (yield* op('stat', dir)).dev
        } catch {
          return null
        }
      }
      return `${yield* mountKey(self.src, srcDev)}:${yield* mountKey(dir, destDev)}`
    }
    let pair: string | null = null
    if (memo.anyUnsupportedFrom(srcDev)) pair = yield* mounts()
    const skips = skipsKnownFailures(this.o)
    for (let i = 0; i < this.methods.length; i++) {
      const method = this.methods[i]
      const last = i + 1 === this.methods.length
      if (skips && !last && pair !== null) {
        const code = memo.unsupported(pair, method)
        if (code !== null) {
          outcome.fallbacks.push({ method, code })
          continue
        }
      }
      let done: Method
      try {
        done = yield* this.one(method, target, outcome)
      } catch (e) {
        if (!isCachelink(e) || last) throw e
        const cls = (yield* this.refusedAfterLinks(method, e)) ? 'refused' : classify(method, e, yield* this.mayLink())
        if (cls === 'refused') {
          outcome.linkRefused = e.code
          continue
        }
        if (cls === 'denied') {
          if (pair === null) pair = yield* mounts()
          const d = yield* this.denied(e.code, pair)
          if (d === 'real') throw e
          if (d === 'this-file') outcome.linkRefused = e.code
          else outcome.fallbacks.push({ method, code: e.code })
          continue
        }
        if (cls !== 'unsupported') throw e
        const unknownPair = pair === null
        if (unknownPair) pair = yield* mounts()
        // Without the destination looked up before, a method that has worked from this source
        // device fails for this one file only, unless the devices differ (EXDEV).
        const sometimes = unknownPair && e.code !== 'EXDEV' && memo.workedFrom(srcDev, method)
        if (pair !== null && !sometimes) memo.setUnsupported(pair, srcDev, method, e.code)
        outcome.fallbacks.push({ method, code: e.code })
        continue
      }
      // Per source device, whatever the pair: `hiddenLimit` asks it.
      memo.noteWorksFrom(srcDev, method)
      if (pair !== null && memo.get(pair, method) !== 'works') memo.set(pair, method, 'works')
      outcome.method = done
      return outcome
    }
    // Unreachable in practice: the last method either returns or throws.
    throw coded('ENOTSUP', syscallOf(this.methods[0]), this.src, target)
  }

  private *one(method: Method, target: P, outcome: Outcome): Step<Method> {
    switch (method) {
      case 'hardlink': {
        const limit = yield* this.hardlink(this.meta, target)
        outcome.linkCounts = limit.hidden ? 'hidden' : null
        outcome.linkLimit = limit.limit
        outcome.resetError = limit.resetError
        return limit.limit === null || limit.limit === 'reset' ? 'hardlink' : 'copy'
      }
      case 'clone':
        try {
          yield* retrying('clone', [], outcome, () => op('copyFile', this.src, target, COPYFILE_EXCL | COPYFILE_FICLONE_FORCE))
        } catch (e) {
          throw fail(e, 'clone', this.src, target)
        }
        // As for a copy: as root, no set-id bits on a clone of another user's file.
        if (process.getuid?.() === 0 && this.meta.uid !== 0n && (this.meta.mode & 0o6000n) !== 0n) {
          try {
            yield* op('chmod', target, Number(this.meta.mode & 0o1777n))
          } catch (e) {
            yield* removeQuietly(target)
            throw fail(e, 'clone', this.src, target)
          }
        }
        return 'clone'
      case 'copy':
        yield* retrying('copy', [], outcome, () => this.copy(target))
        return 'copy'
      case 'symlink':
        try {
          yield* op('symlink', resolvePath(this.src), target)
        } catch (e) {
          throw fail(e, 'symlink', this.src, target)
        }
        return 'symlink'
    }
  }

  /** Linux's `protected_hardlinks` lets the process link the source (sys::may_link). */
  /**
   * What a hard link's EACCES means (link.rs `denied`): real when the source cannot be read;
   * this file's refusal once hard links have worked between these mounts (or from this
   * source's device); else no hard links here, remembered for the pair.
   */
  private *denied(code: string, pair: string | null): Step<'real' | 'this-file' | 'here'> {
    try {
      yield* op('closeFd', yield* op('openFd', this.src, constants.O_RDONLY))
    } catch {
      return 'real'
    }
    const srcDev = this.meta.dev
    if ((pair !== null && memo.get(pair, 'hardlink') === 'works') || memo.workedFrom(srcDev, 'hardlink')) return 'this-file'
    if (pair !== null) memo.setUnsupported(pair, srcDev, 'hardlink', code)
    return 'here'
  }

  private *mayLink(): Step<boolean> {
    const uid = process.getuid?.()
    if (uid === undefined || uid === 0 || BigInt(uid) === this.meta.uid) return true
    return yield* op('mayWrite', this.src)
  }

  /**
   * A hard link, handling the link limit (link.rs `hardlink`). The entry's lock is this
   * process's only (`lockEntry`): Node has no `flock`, so across processes this is the native
   * engine's "no lock here" path.
   */
  private *hardlink(id: BigIntStats, target: P): Step<{ limit: Limit; resetError: string | null; hidden?: boolean }> {
    let tries = 0
    const vanished = new Vanished()
    // This process's lock on the full inode (`lockEntry`): released when the entry moved on.
    let release: (() => void) | null = null
    const unlock = () => {
      release?.()
      release = null
    }
    try {
      for (;;) {
        tries++
        // The last links below `maxLinks` are made under the lock, so links in flight do not
        // crowd each other out of them (which would make resets early).
        const cap = BigInt(this.o.maxLinks)
        if (cap > 0n && id.nlink + NEAR_CAP >= cap && release === null && this.o.onLinkLimit === 'reset') {
          release = yield* op('lockEntry', `${id.dev}:${id.ino}`)
          const again = yield* this.lookAgain()
          if (again !== null && !sameFile(again, id)) unlock()
          id = again ?? id
        }
        const err = yield* this.linkOnce(id, target)
        if (err === null || err === 'hidden') return { limit: null, resetError: null, hidden: err === 'hidden' }
        const now = yield* this.lookAgain()
        if (now === null) {
          if (yield* vanished.wait()) continue
          throw err
        }
        if (!sameFile(now, id) && tries < MAX_TRIES) {
          unlock()
          id = now
          continue
        }
        // Under the lock, a link over `maxLinks` taken back while the inode has room again
        // was only crowded out by links in flight: try again rather than reset early.
        const max = BigInt(this.o.maxLinks)
        if (release !== null && max > 0n && now.nlink < max && tries < MAX_TRIES) {
          id = now
          continue
        }
        if (this.o.onLinkLimit === 'reset' && release === null && tries < MAX_TRIES && !memo.linksRefused.has(now.dev)) {
          release = yield* op('lockEntry', `${now.dev}:${now.ino}`)
          const again = yield* this.lookAgain()
          if (again !== null && !sameFile(again, now)) unlock() // reset meanwhile: link the fresh inode
          id = again ?? now
          continue
        }
        try {
          return yield* this.atLimit(now, target, err)
        } catch (e) {
          // The reset could not open the entry or link its fresh inode because a path named
          // nothing for a moment: start over from the entry as it is now.
          if (is(e, 'ENOENT') && (yield* op('isDir', dirOf(target))) && (yield* vanished.wait())) {
            unlock()
            tries = 0
            id = (yield* this.lookAgain()) ?? id
            continue
          }
          throw e
        } finally {
          unlock()
        }
      }
    } finally {
      unlock()
    }
  }

  /**
   * One hard link. Returns null when made ('hidden' when made with `maxLinks` but the source
   * still reads one link: the counts are hidden, the cap not applied), the refusal worth
   * looking again for (EMLINK or `maxLinks` reached; ENOENT while the target's directory
   * exists; an EPERM that may be a hidden limit, `hiddenLimit`), throws anything else.
   */
  private *linkOnce(id: BigIntStats, target: P): Step<NativeError | null | 'hidden'> {
    const full = () => coded('EMLINK', 'link', this.src, target)
    const max = BigInt(this.o.maxLinks)
    if (max > 0n && id.nlink >= max) return full()
    try {
      yield* op('link', this.src, target)
    } catch (e) {
      const err = fail(e, 'link', this.src, target)
      if (err.code === 'EMLINK') return err
      if (err.code === 'ENOENT' && (yield* op('isDir', dirOf(target)))) return err
      if (yield* this.hiddenLimit(err, id, target)) return err
      throw err
    }
    // `maxLinks` is a cap even when other processes link the same inode at once: of links made
    // together, those that see too many are taken back.
    if (max > 0n) {
      let nlink = 0n
      try {
        nlink = (yield* op('lstat', target)).nlink
      } catch {}
      if (nlink > max) {
        try {
          yield* op('unlink', target)
          return full()
        } catch {}
      }
      // A link just made leaves at least two; one means the counts are not real.
      if (nlink === 1n) return 'hidden'
    }
    return null
  }

  /**
   * Whether a hard link's `err` may be the link limit of a filesystem that hides link counts
   * (link.rs `hidden_limit`): EPERM under `onLinkLimit: 'reset'` on a source the process may
   * link that reads one link, on a device where hard links have worked in this process or,
   * before any did, where two empty files of ours beside `target` can be linked (once per
   * device; where not, the device joins `noLinks` and the EPERM is classified as before).
   */
  private *hiddenLimit(err: NativeError, id: BigIntStats, target: P): Step<boolean> {
    if (
      process.platform === 'win32' ||
      this.o.onLinkLimit !== 'reset' ||
      err.code !== 'EPERM' ||
      id.nlink !== 1n ||
      memo.noLinks.has(id.dev) ||
      !(yield* this.mayLink())
    ) {
      return false
    }
    if (memo.workedFrom(id.dev, 'hardlink')) return true
    const works = yield* linksWorkIn(target)
    if (works === true) memo.noteWorksFrom(id.dev, 'hardlink')
    else if (works === false) memo.noLinks.add(id.dev)
    // null: no file of ours could be made there, nothing learned.
    return works === true
  }

  /**
   * A hard link's EPERM, on a source the process may link, after hard links have worked from
   * the source's device in this process: this file's refusal, not "no hard links here"
   * (link.rs `refused_after_links`).
   */
  private *refusedAfterLinks(method: Method, e: NativeError): Step<boolean> {
    return (
      method === 'hardlink' &&
      process.platform !== 'win32' &&
      e.code === 'EPERM' &&
      memo.workedFrom(this.meta.dev, 'hardlink') &&
      (yield* this.mayLink())
    )
  }

  private *lookAgain(): Step<BigIntStats | null> {
    try {
      return yield* op('stat', this.src)
    } catch {
      return null
    }
  }

  private *atLimit(meta: BigIntStats, target: P, err: NativeError): Step<{ limit: Limit; resetError: string | null }> {
    if (this.o.onLinkLimit === 'error') throw err
    if (this.o.onLinkLimit === 'copy' || memo.linksRefused.has(meta.dev)) {
      yield* this.copy(target)
      return { limit: 'copy', resetError: null }
    }
    let r: Reset
    try {
      r = yield* reset(this.src, meta, target)
    } catch (e) {
      // The fresh inode, with one link, could not be linked: this filesystem refuses links.
      if (!is(e, 'EMLINK')) throw e
      memo.linksRefused.add(meta.dev)
      yield* this.copy(target)
      return { limit: 'copy', resetError: null }
    }
    if (r.kind === 'done') return { limit: 'reset', resetError: null }
    // An EPERM that was maybe a hidden limit (`hiddenLimit`) and the entry could not be reset
    // to find out: classified as before by `create`.
    if (r.kind === 'readonly' && err.code === 'EPERM' && !memo.workedFrom(meta.dev, 'hardlink')) throw err
    if (r.kind === 'readonly') yield* this.copy(target)
    return { limit: 'copy-readonly-cache', resetError: r.error.code }
  }

  /**
   * A full copy with the source's mode, created exclusively (EEXIST when `target` exists),
   * never partial at `target`: a temp beside it, published when complete. In a stage and for
   * an empty source, in place.
   */
  *copy(target: P): Step<void> {
    const failed = (e: unknown) => fail(e, 'copyfile', this.src, target)
    if (this.staged || this.meta.size === 0n) {
      try {
        yield* copyPlain(this.src, target, this.meta)
      } catch (e) {
        throw failed(e)
      }
      return
    }
    if (this.meta.size > EEXIST_FIRST) {
      let exists = true
      try {
        yield* op('lstat', target)
      } catch (e) {
        if (!is(e, 'ENOENT')) throw failed(e)
        exists = false
      }
      if (exists) throw coded('EEXIST', 'copyfile', this.src, target)
    }
    const tmp = pathBeside(target)
    try {
      yield* copyPlain(this.src, tmp, this.meta)
    } catch (e) {
      yield* removeQuietly(tmp)
      // A legal `target` whose temp's longer name went over PATH_MAX: name the temp.
      throw is(e, 'ENAMETOOLONG') ? fail(e, 'copyfile', this.src, tmp) : failed(e)
    }
    try {
      yield* publish(tmp, target)
    } catch (e) {
      yield* removeQuietly(tmp)
      throw failed(e)
    }
  }
}

/**
 * Whether hard links work beside `beside`: an empty temp file of ours linked to a second temp
 * name, both removed; null when the file could not be made (link.rs `links_work_beside`).
 */
function* linksWorkIn(beside: P): Step<boolean | null> {
  const first = pathBeside(beside)
  const second = pathBeside(beside)
  try {
    yield* op('writeFile', first, '', 'wx')
  } catch {
    return null
  }
  try {
    yield* op('link', first, second)
    return true
  } catch {
    return false
  } finally {
    yield* removeQuietly(second)
    yield* removeQuietly(first)
  }
}

/**
 * A plain copy of `src` (whose metadata is `meta`) to `dest`, which must not exist unless
 * `exclusive` is false, with the source's mode: by read and write (`copyByHand` says why not
 * `fs.copyFile`). As root, a copy of another user's file keeps no set-id bits (it would be
 * setuid-root); a copy of root's own keeps them, as `fs.copyFile` does.
 */
export function* copyPlain(src: P, dest: P, meta: BigIntStats, exclusive = true): Step<void> {
  let mode = Number(meta.mode & 0o7777n)
  if (process.getuid?.() === 0 && meta.uid !== 0n) mode &= ~0o6000
  yield* op('copyByHand', src, dest, mode, exclusive)
}

/**
 * Gives the complete file `tmp` the name `target`, which must not exist (EEXIST): a hard link
 * (then `tmp` is removed), else, where links are refused, a rename after checking `target` is
 * absent. Node has no RENAME_NOREPLACE, which the native engine tries first.
 */
function* publish(tmp: P, target: P): Step<void> {
  try {
    yield* op('link', tmp, target)
    yield* removeQuietly(tmp)
    return
  } catch (e) {
    // EACCES: a FUSE filesystem refusing links (method.ts 'denied'); the temp is ours.
    if (!['EINVAL', 'ENOSYS', 'ENOTSUP', 'EPERM', 'EMLINK', 'EACCES', 'UNKNOWN'].includes((e as { code?: string }).code ?? '')) throw e
  }
  let exists = true
  try {
    yield* op('lstat', target)
  } catch (e) {
    if (!is(e, 'ENOENT')) throw e
    exists = false
  }
  if (exists) throw Object.assign(new Error('EEXIST'), { code: 'EEXIST', errno: -17 })
  yield* op('rename', tmp, target)
}

type Reset = { kind: 'done' } | { kind: 'unreplaced'; error: NativeError } | { kind: 'readonly'; error: NativeError }

const READ_ONLY = ['EACCES', 'EPERM', 'EROFS']

/**
 * Resets the regular file `entry` (reset.rs): a temp beside it (exclusive, the entry's mode)
 * filled by a clone where the filesystem can (remembered per device) else a copy; the entry's
 * owner (as root), mode and times, fsync; linked to `linkTo` before the rename over the entry.
 */
export function* reset(entry: P, meta: BigIntStats, linkTo: P | null, hold = false): Step<Reset> {
  const tmp = pathBeside(entry)
  const mode = Number(meta.mode & 0o7777n)
  try {
    // Owner read and write until it is filled; the entry's mode is set last.
    yield* op('createExclusive', tmp, 0o600)
  } catch (e) {
    const err = fail(e, 'open', entry, linkTo)
    if (READ_ONLY.includes(err.code)) return { kind: 'readonly', error: err }
    throw err
  }
  let renamed = false
  try {
    yield* fill(entry, tmp, meta, linkTo)
    try {
      const root = process.getuid?.() === 0
      if (root) yield* op('chown', tmp, Number(meta.uid), Number(meta.gid))
      yield* op('utimes', tmp, seconds(meta.atimeNs), seconds(meta.mtimeNs))
      // fsync opens the temp for reading: a mode without owner read is set after it.
      if (!root && (mode & 0o400) === 0) yield* op('chmod', tmp, mode | 0o400)
      yield* fsync(tmp)
      // Last: `chown` clears setuid and setgid, and the umask filtered the mode.
      yield* op('chmod', tmp, mode)
    } catch (e) {
      throw fail(e, 'fsync', entry, linkTo)
    }
    if (linkTo !== null) {
      try {
        yield* op('link', tmp, linkTo)
      } catch (e) {
        throw fail(e, 'link', entry, linkTo)
      }
    }
    // reset.rs `hold_link`: removed unless the rename is done.
    const held = hold ? yield* holdLink(tmp, entry) : null
    try {
      yield* op('rename', tmp, entry)
      renamed = true
      return { kind: 'done' }
    } catch (e) {
      if (held !== null) yield* removeQuietly(held)
      const err = fail(e, 'rename', entry, linkTo)
      if (linkTo === null) throw err
      if ([...READ_ONLY, 'EBUSY'].includes(err.code)) return { kind: 'unreplaced', error: err }
      // A real error (EIO, ...): the call fails, so it leaves no destination.
      yield* removeQuietly(linkTo)
      throw err
    }
  } finally {
    if (!renamed) yield* removeQuietly(tmp)
  }
}

/**
 * reset.rs `hold_link`: a second link to the fresh inode `tmp` beside `entry`, so the entry never
 * shows one link (pnpm's `store prune` deletes store files with one link); null where it cannot
 * be made (the reset goes on without it).
 */
function* holdLink(tmp: P, entry: P): Step<P | null> {
  const held = heldBeside(entry)
  if (held === null) return null
  try {
    yield* op('link', tmp, held)
    return held
  } catch {
    return null
  }
}

/**
 * Seconds as `utimes` takes them, from nanoseconds. libuv turns the double into whole
 * microseconds by truncating `seconds * 1e6`, and a double near today's dates is within a
 * quarter microsecond of the time it stands for: so the time is given as the middle of its
 * microsecond, which then truncates to exactly that microsecond. What is below a microsecond
 * is lost (Node has no way to set nanoseconds); taking the seconds as they are lost up to 2 us.
 */
export function seconds(ns: bigint): number {
  return (Number(ns / 1000n) + 0.5) / 1e6
}

function* fsync(p: P): Step<void> {
  try {
    yield* op('fsyncPath', p)
  } catch (e) {
    // Windows' FlushFileBuffers needs a handle open for writing, which a read-only file
    // (the entry's mode) does not give: the rename that follows is what must not be torn.
    if (process.platform !== 'win32') throw e
  }
}

/** Fills the temp `tmp` (which exists, empty) with `entry`'s bytes: a clone, else a copy. */
function* fill(entry: P, tmp: P, meta: BigIntStats, linkTo: P | null): Step<void> {
  const key = memo.pair(meta.dev, meta.dev)
  if (memo.get(key, 'clone') !== 'unsupported') {
    try {
      yield* op('copyFile', entry, tmp, COPYFILE_FICLONE_FORCE)
      memo.set(key, 'clone', 'works')
      return
    } catch (e) {
      if (classify('clone', e, true) === 'unsupported') memo.set(key, 'clone', 'unsupported')
    }
  }
  try {
    // Into the empty temp (libuv removed it if the clone failed: then made again).
    yield* copyPlain(entry, tmp, meta, false)
  } catch (e) {
    throw fail(e, 'copyfile', entry, linkTo)
  }
}

/** Resets a cache entry on its own; with `hold`, the fresh inode keeps a hold beside it. */
export function* resetEntry(path: P, hold: boolean): Step<void> {
  let meta: BigIntStats
  try {
    meta = yield* op('lstat', path)
  } catch (e) {
    throw fail(e, 'open', path)
  }
  if (meta.isDirectory()) throw coded('EISDIR', 'open', path)
  if (!meta.isFile()) throw coded('EINVAL', 'open', path)
  const r = yield* reset(path, meta, null, hold)
  if (r.kind !== 'done') throw r.error
}
