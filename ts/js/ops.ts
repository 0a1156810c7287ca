/**
 * One engine, two drivers. The JS backend's engine is written once as generator functions that
 * `yield` each filesystem call (`op('link', a, b)`) instead of making it; `runSync` makes the
 * calls with `fs.*Sync` on the calling thread (the sync twins), `runAsync` with `fs.promises`
 * (libuv's pool, as the native `Task`s run there). A failed call is thrown back into the
 * generator at its `yield`, so the engine's `try`/`catch` reads as plain code.
 * @module
 */
import { isUtf8 } from 'node:buffer'
import * as fs from 'node:fs'
import type { BigIntStats } from 'node:fs'
import { promisify } from 'node:util'

/**
 * A path as Node's fs takes it: a string, or a Buffer of raw bytes (on Unix a name need not be
 * UTF-8; such a path is kept a Buffer from the caller to the fs call, never made a string).
 */
export type P = string | Buffer

/** Bytes as a path: a string when they are UTF-8 (encoded back to the same bytes), else a copy of them. */
export function asPath(bytes: Buffer): P {
  return isUtf8(bytes) ? bytes.toString() : Buffer.from(bytes)
}

/** The raw bytes of a path. */
export function bytesOf(p: P): Buffer {
  return typeof p === 'string' ? Buffer.from(p) : p
}

/** Whether two paths name the same bytes. */
export function samePath(a: P, b: P): boolean {
  return typeof a === 'string' && typeof b === 'string' ? a === b : bytesOf(a).equals(bytesOf(b))
}

/** The filesystem calls the engine makes, as their sync forms type them. */
export interface Ops {
  lstat(p: P): BigIntStats
  stat(p: P): BigIntStats
  /** The canonical path, byte for byte (`asPath`: a string unless it is not UTF-8). */
  realpath(p: P): P
  link(existing: P, target: P): void
  symlink(to: P, path: P): void
  unlink(p: P): void
  rename(from: P, to: P): void
  copyFile(src: P, dest: P, mode: number): void
  /**
   * A copy by read and write into `dest` (created exclusively when `exclusive`, else truncated),
   * then given exactly `mode` (a refused `fchmod` is let be: exFAT through FUSE for a user who
   * does not own the files). Not `fs.copyFile`: libuv's copyfile loops for ever when its source
   * shrinks under it (sendfile returning 0 is not taken as the end), and fails altogether where
   * its `fchmod` is refused. Throws `ERR_CACHELINK_SOURCE_CHANGED` when the source had another
   * size at the end than at the start.
   */
  copyByHand(src: P, dest: P, mode: number, exclusive: boolean): void
  /** Creates `p` exclusively with `mode` (the umask applies) and closes it. */
  createExclusive(p: P, mode: number): void
  chmod(p: P, mode: number): void
  chown(p: P, uid: number, gid: number): void
  /** Sets atime and mtime, in seconds (Node's precision: a double). */
  utimes(p: P, atime: number, mtime: number): void
  /** Opens `p` read-only, fsyncs it, closes it. */
  fsyncPath(p: P): void
  /** Whether the process may read and write `p` (`access(R_OK | W_OK)`). */
  mayWrite(p: P): boolean
  isDir(p: P): boolean
  /**
   * Whether `p` itself is a regular file (`lstat`: a symlink is not; false when it cannot be
   * read). Node's `link` does not follow a symlink, where the native `linkat` does.
   */
  isFile(p: P): boolean
  mkdir(p: P, mode: number): void
  rmdir(p: P): void
  readdir(p: P): fs.Dirent[]
  /** Names as raw bytes (a name need not be UTF-8). */
  readdirRaw(p: P): fs.Dirent<Buffer>[]
  /** The link's target, byte for byte (`asPath`). */
  readlink(p: P): P
  readFile(p: P): Buffer
  /** Removes a tree (`rm -rf`), ignoring a missing one. */
  rmTree(p: P): void
  /** Whether the process may write in the directory `p` (`access(W_OK)`): the error if not. */
  accessWrite(p: P): void
  writeFile(p: P, data: string, flag: string): void
  /**
   * Waits for this process's lock on `key` (an entry's inode) and returns its release: the
   * async calls of one process at a full entry reset it once (the native engine's `flock`
   * does it across processes too; Node has no `flock`). The sync driver needs none: one
   * thread makes one call at a time.
   */
  lockEntry(key: string): () => void
  /** Opens `p` with `flags` (fs.constants), a descriptor. */
  openFd(p: P, flags: number): number
  closeFd(fd: number): void
  fstat(fd: number): BigIntStats
  /** Reads into `buf` from the descriptor's position: the bytes read, 0 at the end. */
  readFd(fd: number, buf: Buffer): number
  /** Writes `buf` from `at` to its end at file offset `at`: the bytes written. */
  writeFd(fd: number, buf: Buffer, at: number): number
  ftruncate(fd: number, len: number): void
  fchmod(fd: number, mode: number): void
  /** Sets atime and mtime of the descriptor's file, in seconds (see `utimes`). */
  futimes(fd: number, atime: number, mtime: number): void
  fsyncFd(fd: number): void
  /** Waits `ms` milliseconds (the sync driver blocks the thread). */
  sleep(ms: number): void
}

export type OpName = keyof Ops
export interface Request {
  name: OpName
  args: unknown[]
}
/** A step of the engine: yields requests, gets their results back, returns a `T`. */
export type Step<T> = Generator<Request, T, unknown>

/** Makes the filesystem call `name` (through whichever driver runs this step). */
export function* op<K extends OpName>(name: K, ...args: Parameters<Ops[K]>): Step<ReturnType<Ops[K]>> {
  return (yield { name, args }) as ReturnType<Ops[K]>
}

/** The copy's source had another size at the end than at the start. */
function sourceChanged(): Error {
  return Object.assign(new Error('the source changed size while it was copied'), { code: 'ERR_CACHELINK_SOURCE_CHANGED' })
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))

const SYNC: Ops = {
  lstat: (p) => fs.lstatSync(p, { bigint: true }),
  stat: (p) => fs.statSync(p, { bigint: true }),
  realpath: (p) => asPath(fs.realpathSync.native(p, { encoding: 'buffer' })),
  link: (a, b) => fs.linkSync(a, b),
  symlink: (to, p) => fs.symlinkSync(to, p, 'file'),
  unlink: (p) => fs.unlinkSync(p),
  rename: (a, b) => fs.renameSync(a, b),
  copyFile: (a, b, mode) => fs.copyFileSync(a, b, mode),
  copyByHand: (a, b, mode, exclusive) => {
    const input = fs.openSync(a, 'r')
    try {
      const size = fs.fstatSync(input).size
      const output = fs.openSync(b, exclusive ? 'wx' : 'w', mode)
      let done = false
      try {
        const buf = Buffer.allocUnsafe(256 * 1024)
        let total = 0
        // Up to the size at the start (a read past it would only find the end).
        for (let n; total < size && (n = fs.readSync(input, buf, 0, buf.length, null)) > 0; total += n) {
          for (let at = 0; at < n; ) at += fs.writeSync(output, buf, at, n - at)
        }
        if (total !== size || fs.fstatSync(input).size !== size) throw sourceChanged()
        // Always: the umask filtered the mode given to open (reading the umask would set it to
        // 0 for a moment, under libuv's threads creating files).
        try {
          fs.fchmodSync(output, mode)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e
        }
        done = true
      } finally {
        fs.closeSync(output)
        if (!done) fs.rmSync(b, { force: true })
      }
    } finally {
      fs.closeSync(input)
    }
  },
  createExclusive: (p, mode) => fs.closeSync(fs.openSync(p, 'wx', mode)),
  chmod: (p, mode) => fs.chmodSync(p, mode),
  chown: (p, uid, gid) => fs.chownSync(p, uid, gid),
  utimes: (p, a, m) => fs.utimesSync(p, a, m),
  fsyncPath: (p) => {
    const fd = fs.openSync(p, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  },
  mayWrite: (p) => {
    try {
      fs.accessSync(p, fs.constants.R_OK | fs.constants.W_OK)
      return true
    } catch {
      return false
    }
  },
  isFile: (p) => fs.lstatSync(p, { throwIfNoEntry: false })?.isFile() ?? false,
  isDir: (p) => {
    try {
      return fs.statSync(p).isDirectory()
    } catch {
      return false
    }
  },
  mkdir: (p, mode) => void fs.mkdirSync(p, { mode }),
  rmdir: (p) => fs.rmdirSync(p),
  readdir: (p) => fs.readdirSync(p, { withFileTypes: true }),
  readdirRaw: (p) => fs.readdirSync(p, { withFileTypes: true, encoding: 'buffer' }),
  readlink: (p) => asPath(fs.readlinkSync(p, { encoding: 'buffer' })),
  readFile: (p) => fs.readFileSync(p),
  rmTree: (p) => fs.rmSync(p, { recursive: true, force: true }),
  accessWrite: (p) => fs.accessSync(p, fs.constants.W_OK),
  writeFile: (p, data, flag) => fs.writeFileSync(p, data, { flag }),
  lockEntry: () => () => {},
  openFd: (p, flags) => fs.openSync(p, flags),
  closeFd: (fd) => fs.closeSync(fd),
  fstat: (fd) => fs.fstatSync(fd, { bigint: true }),
  readFd: (fd, buf) => fs.readSync(fd, buf, 0, buf.length, null),
  writeFd: (fd, buf, at) => fs.writeSync(fd, buf, at, buf.length - at, at),
  ftruncate: (fd, len) => fs.ftruncateSync(fd, len),
  fchmod: (fd, mode) => fs.fchmodSync(fd, mode),
  futimes: (fd, a, m) => fs.futimesSync(fd, a, m),
  fsyncFd: (fd) => fs.fsyncSync(fd),
  sleep: (ms) => void Atomics.wait(sleeper, 0, 0, ms),
}

type AsyncOps = { [K in OpName]: (...args: Parameters<Ops[K]>) => Promise<ReturnType<Ops[K]>> }

const fsp = fs.promises

/** The entries this process's async calls hold (`lockEntry`). */
const locks = new Map<string, Promise<void>>()

const ASYNC: AsyncOps = {
  lstat: (p) => fsp.lstat(p, { bigint: true }),
  stat: (p) => fsp.stat(p, { bigint: true }),
  realpath: async (p) => asPath(await fsp.realpath(p, { encoding: 'buffer' })),
  link: (a, b) => fsp.link(a, b),
  symlink: (to, p) => fsp.symlink(to, p, 'file'),
  unlink: (p) => fsp.unlink(p),
  rename: (a, b) => fsp.rename(a, b),
  copyFile: (a, b, mode) => fsp.copyFile(a, b, mode),
  copyByHand: async (a, b, mode, exclusive) => {
    const input = await fsp.open(a, 'r')
    try {
      const size = (await input.stat()).size
      const output = await fsp.open(b, exclusive ? 'wx' : 'w', mode)
      let done = false
      try {
        const buf = Buffer.allocUnsafe(256 * 1024)
        let total = 0
        for (let n; total < size && (n = (await input.read(buf, 0, buf.length, null)).bytesRead) > 0; total += n) {
          for (let at = 0; at < n; ) at += (await output.write(buf, at, n - at)).bytesWritten
        }
        if (total !== size || (await input.stat()).size !== size) throw sourceChanged()
        try {
          await output.chmod(mode)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e
        }
        done = true
      } finally {
        await output.close()
        if (!done) await fsp.rm(b, { force: true })
      }
    } finally {
      await input.close()
    }
  },
  createExclusive: async (p, mode) => (await fsp.open(p, 'wx', mode)).close(),
  chmod: (p, mode) => fsp.chmod(p, mode),
  chown: (p, uid, gid) => fsp.chown(p, uid, gid),
  utimes: (p, a, m) => fsp.utimes(p, a, m),
  fsyncPath: async (p) => {
    const h = await fsp.open(p, 'r')
    try {
      await h.sync()
    } finally {
      await h.close()
    }
  },
  mayWrite: (p) => fsp.access(p, fs.constants.R_OK | fs.constants.W_OK).then(() => true, () => false),
  isDir: (p) => fsp.stat(p).then((s) => s.isDirectory(), () => false),
  isFile: (p) => fsp.lstat(p).then((s) => s.isFile(), () => false),
  mkdir: (p, mode) => fsp.mkdir(p, { mode }).then(() => undefined),
  rmdir: (p) => fsp.rmdir(p),
  readdir: (p) => fsp.readdir(p, { withFileTypes: true }),
  readdirRaw: (p) => fsp.readdir(p, { withFileTypes: true, encoding: 'buffer' }),
  readlink: async (p) => asPath(await fsp.readlink(p, { encoding: 'buffer' })),
  readFile: (p) => fsp.readFile(p),
  rmTree: (p) => fsp.rm(p, { recursive: true, force: true }),
  accessWrite: (p) => fsp.access(p, fs.constants.W_OK),
  writeFile: (p, data, flag) => fsp.writeFile(p, data, { flag }),
  lockEntry: async (key) => {
    for (let held = locks.get(key); held; held = locks.get(key)) await held
    let release!: () => void
    locks.set(key, new Promise<void>((resolve) => (release = resolve)))
    return () => {
      locks.delete(key)
      release()
    }
  },
  openFd: (p, flags) => promisify(fs.open)(p, flags),
  closeFd: (fd) => promisify(fs.close)(fd),
  fstat: (fd) => promisify(fs.fstat)(fd, { bigint: true }) as Promise<BigIntStats>,
  readFd: (fd, buf) => promisify(fs.read)(fd, buf, 0, buf.length, null).then((r) => r.bytesRead),
  writeFd: (fd, buf, at) => promisify(fs.write)(fd, buf, at, buf.length - at, at).then((r) => r.bytesWritten),
  ftruncate: (fd, len) => promisify(fs.ftruncate)(fd, len),
  fchmod: (fd, mode) => promisify(fs.fchmod)(fd, mode),
  futimes: (fd, a, m) => promisify(fs.futimes)(fd, a, m),
  fsyncFd: (fd) => promisify(fs.fsync)(fd),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

/** Runs `step` on the calling thread with `fs.*Sync`. */
export function runSync<T>(step: Step<T>): T {
  let next = step.next()
  while (!next.done) {
    const { name, args } = next.value
    let value: unknown
    try {
      value = (SYNC[name] as (...a: unknown[]) => unknown)(...args)
    } catch (e) {
      next = step.throw(e)
      continue
    }
    next = step.next(value)
  }
  return next.value
}

/** Runs `step` with `fs.promises`. */
export async function runAsync<T>(step: Step<T>): Promise<T> {
  let next = step.next()
  while (!next.done) {
    const { name, args } = next.value
    let value: unknown
    try {
      value = await (ASYNC[name] as (...a: unknown[]) => Promise<unknown>)(...args)
    } catch (e) {
      next = step.throw(e)
      continue
    }
    next = step.next(value)
  }
  return next.value
}

/**
 * How long the sliced driver makes fs calls on the JS thread before it lets the event loop run
 * (timers, progress reports, an abort signal, other calls).
 */
const SLICE_MS = 8

/**
 * When the JS thread last let the event loop run, for every `runSliced` of the process: the
 * calls one after another (an import's files, verify's entries) share one slice, where a clock
 * of their own would restart with each and never let it run (awaiting a promise that is already
 * settled runs no timer, no I/O).
 */
let slice = performance.now()

/** The calls the sliced driver waits for rather than makes on the JS thread. */
const WAITED = new Set<OpName>(['sleep', 'lockEntry'])

/**
 * Runs `step` with `fs.*Sync` on the JS thread, in slices of about `SLICE_MS`, awaiting
 * `setImmediate` between them: the async imports, scans and cleans. A metadata call made on
 * the JS thread costs a few microseconds; the same call through `fs.promises` costs a trip to
 * libuv's pool and back, several times that, and a package is thousands of such calls (pnpm's
 * importer makes them synchronously for the same reason). `sleep` and `lockEntry` are
 * awaited. The price: one call blocks the JS thread for as long as it takes (a large copy, a
 * slow network filesystem).
 */
export async function runSliced<T>(step: Step<T>): Promise<T> {
  let next = step.next()
  while (!next.done) {
    const { name, args } = next.value
    let value: unknown
    try {
      if (WAITED.has(name)) {
        value = await (ASYNC[name] as (...a: unknown[]) => Promise<unknown>)(...args)
        slice = performance.now()
      } else {
        if (performance.now() - slice > SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve))
          slice = performance.now()
        }
        value = (SYNC[name] as (...a: unknown[]) => unknown)(...args)
      }
    } catch (e) {
      next = step.throw(e)
      continue
    }
    next = step.next(value)
  }
  return next.value
}
