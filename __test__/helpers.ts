/**
 * Real filesystems for the tests: loop mounts (ext4, btrfs, xfs; exFAT through FUSE with
 * exfat-fuse, NTFS through ntfs-3g) and tmpfs, made and removed by the tests themselves (root). A test that cannot get what it needs skips loudly, and
 * under CI=true fails instead: a skip proves nothing.
 */
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { getSystemErrorName } from 'node:util'
import { expect } from 'vitest'
import { backend } from '../ts/addon.js'

export const isRoot = process.getuid?.() === 0
/**
 * The suite runs once per backend (scripts/test.mjs). Where Node's fs cannot do what the native
 * engine does (README, "The JS backend"), a test asserts the JS backend's documented behaviour
 * under this flag instead of skipping.
 */
export const jsBackend = backend === 'js'
export const onLinux = process.platform === 'linux'

function has(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Why a filesystem of this kind cannot be made here, or undefined when it can. Under CI=true
 * use `requireFs`, which turns the reason into a failure.
 */
export function unavailable(kind: FsKind): string | undefined {
  if (!onLinux) return `${kind} loop mounts need Linux`
  if (!isRoot) return `${kind} needs root to mount (run the tests as root)`
  const tools: Record<FsKind, string[]> = {
    ext4: ['mkfs.ext4'],
    btrfs: ['mkfs.btrfs'],
    xfs: ['mkfs.xfs'],
    tmpfs: ['mount'],
    exfat: ['mkfs.exfat', 'mount.exfat-fuse'],
    ntfs: ['mkfs.ntfs', 'ntfs-3g'],
  }
  for (const tool of tools[kind]) {
    if (!has(tool)) {
      return `${tool} is not installed (apt-get install e2fsprogs btrfs-progs xfsprogs exfatprogs exfat-fuse ntfs-3g)`
    }
  }
  if ((kind === 'exfat' || kind === 'ntfs') && !fs.existsSync('/dev/fuse')) return `${kind} needs FUSE (/dev/fuse)`
  return undefined
}

/** For `describe.skipIf`: true when `kind` cannot be mounted; throws under CI=true instead. */
export function skipWithout(...kinds: FsKind[]): boolean {
  if (!onLinux) {
    // Loop mounts are Linux's; macOS and Windows run their own filesystem tests
    // (platform.spec.ts) in the GitHub matrix. Not a skip of something that could run here.
    return true
  }
  for (const kind of kinds) {
    const why = unavailable(kind)
    if (why) {
      if (process.env.CI === 'true' || process.env.CI === '1') {
        throw new Error(`CI=true and a filesystem test cannot run: ${why}`)
      }
      console.warn(`\n*** SKIPPING ${kind} tests: ${why} ***\n`)
      return true
    }
  }
  return false
}

/** Why nolinkfs.py (FUSE, Debian's python3-fusepy) cannot run here; undefined when it can. */
export function noFuse(): string | undefined {
  if (!onLinux || !isRoot) return 'FUSE mounts need Linux and root'
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing'
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import fusepy'], { stdio: 'ignore' })
  } catch {
    return 'python3-fusepy is not installed (apt-get install python3-fusepy)'
  }
  return undefined
}

/** For `describe.skipIf`: true when nolinkfs.py cannot run; throws under CI=true instead. */
export function skipWithoutFuse(): boolean {
  const why = noFuse()
  if (!why) return false
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`CI=true and a FUSE test cannot run: ${why}`)
  console.warn(`\n*** SKIPPING FUSE tests: ${why} ***\n`)
  return true
}

/** exfat and ntfs are FUSE filesystems (exfat-fuse, ntfs-3g), as `mount -t` names them. */
export type FsKind = 'ext4' | 'btrfs' | 'xfs' | 'tmpfs' | 'exfat' | 'ntfs'

export interface Mounted {
  dir: string
  kind: FsKind
  unmount(): void
}

const SIZES: Record<FsKind, number> = { ext4: 160, btrfs: 160, xfs: 320, tmpfs: 256, exfat: 64, ntfs: 64 }

/** Mounts a fresh filesystem of `kind` and returns its directory. */
export function mount(kind: FsKind, sizeMiB = SIZES[kind]): Mounted {
  const base = fs.mkdtempSync(join(tmpdir(), `cachelink-${kind}-`))
  const dir = join(base, 'mnt')
  fs.mkdirSync(dir)
  const image = join(base, 'image')
  if (kind === 'tmpfs') {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir])
  } else {
    fs.closeSync(fs.openSync(image, 'w'))
    fs.truncateSync(image, sizeMiB * 1024 * 1024)
    const mkfs: Record<string, string[]> = {
      ext4: ['mkfs.ext4', '-q', '-F', '-N', '20000', image],
      btrfs: ['mkfs.btrfs', '-q', '-f', image],
      xfs: ['mkfs.xfs', '-q', '-f', '-m', 'reflink=1', image],
      exfat: ['mkfs.exfat', image],
      ntfs: ['mkfs.ntfs', '-f', '-Q', '-F', image],
    }
    const [cmd, ...args] = mkfs[kind]
    execFileSync(cmd, args, { stdio: 'pipe' })
    // -t exfat-fuse: the FUSE driver, not the kernel's exfat module.
    const type = { exfat: ['-t', 'exfat-fuse'], ntfs: ['-t', 'ntfs-3g'] }[kind as string] ?? []
    execFileSync('mount', [...type, '-o', 'loop', image, dir], { stdio: 'pipe' })
  }
  return {
    dir,
    kind,
    unmount() {
      try {
        execFileSync('umount', ['-l', dir])
      } finally {
        fs.rmSync(base, { recursive: true, force: true })
      }
    },
  }
}

/** A fresh directory under `root` (default: the OS temp dir), for one test. */
export function sandbox(root = tmpdir()): string {
  return fs.mkdtempSync(join(root, 'sandbox-'))
}

/** Every path under `dir` with its size and inode: to show that nothing changed. */
export function snapshot(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = join(d, name)
      const st = fs.lstatSync(p)
      out.push(`${p} ${st.mode.toString(8)} ${st.size} ${st.ino} ${st.nlink} ${st.mtimeMs}`)
      if (st.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out
}

/** Temp files cachelink left under `dir` (there should be none). */
export function leftovers(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((p) => p.includes('.cachelink-'))
}

/** The error is Node's fs error for `code`. */
export function expectFsError(
  err: unknown,
  code: string,
  fields: { syscall?: string; path?: string; dest?: string } = {},
): void {
  expect(err).toBeInstanceOf(Error)
  const e = err as NodeJS.ErrnoException & { dest?: string }
  expect(e.code).toBe(code)
  expect(typeof e.errno).toBe('number')
  expect(getSystemErrorName(e.errno as number)).toBe(code)
  if (fields.syscall) expect(e.syscall).toBe(fields.syscall)
  if (fields.path) expect(e.path).toBe(fields.path)
  if (fields.dest) expect(e.dest).toBe(fields.dest)
  expect(e.message.startsWith(`${code}: `)).toBe(true)
}

export function catchSync(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('expected an error, got none')
}

/** Why an overlayfs mount cannot be made here (Linux, root, the overlay module), or undefined. */
export function noOverlay(): string | undefined {
  if (!onLinux || !isRoot) return 'overlayfs mounts need Linux and root'
  const listed = () => fs.readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n')
  if (!listed()) {
    try {
      execFileSync('modprobe', ['overlay'], { stdio: 'ignore' })
    } catch {}
    if (!listed()) return 'the kernel has no overlayfs (modprobe overlay)'
  }
  return undefined
}

/** For `describe.skipIf`: true when overlayfs cannot be mounted; throws under CI=true instead. */
export function skipWithoutOverlay(...lowerKinds: FsKind[]): boolean {
  if (!onLinux) return true // as skipWithout: Linux's, not a skip of something that could run here
  const why = noOverlay() ?? lowerKinds.map(unavailable).find((w) => w !== undefined)
  if (!why) return false
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`CI=true and an overlayfs test cannot run: ${why}`)
  console.warn(`\n*** SKIPPING overlayfs tests: ${why} ***\n`)
  return true
}

export interface Overlay {
  /** The merged directory, where the tests import. */
  dir: string
  lower: string
  upper: string
  unmount(): void
}

/**
 * An overlayfs mount as a container image gives one: `fill(lower)` writes the lower layer before
 * the mount (a lower layer must not change under a mounted overlay). Upper and work dirs are on a
 * fresh tmpfs of `upperMiB`; the lower layer is on that same tmpfs (`lower: 'same'`) or on a
 * filesystem of its own (`lower: 'ext4'`, `'tmpfs'`, ...).
 */
export function mountOverlay(lower: 'same' | FsKind, fill: (lower: string) => void, upperMiB = 64): Overlay {
  const top = mount('tmpfs', upperMiB)
  let bottom: Mounted | undefined
  try {
    const dirs = { lower: join(top.dir, 'lower'), upper: join(top.dir, 'upper'), work: join(top.dir, 'work'), merged: join(top.dir, 'merged') }
    if (lower !== 'same') {
      bottom = mount(lower)
      dirs.lower = bottom.dir
    }
    for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true })
    fill(dirs.lower)
    const o = `lowerdir=${dirs.lower},upperdir=${dirs.upper},workdir=${dirs.work}`
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', o, dirs.merged], { stdio: 'pipe' })
    return {
      dir: dirs.merged,
      lower: dirs.lower,
      upper: dirs.upper,
      unmount() {
        try {
          execFileSync('umount', ['-l', dirs.merged])
        } finally {
          try {
            bottom?.unmount()
          } finally {
            top.unmount()
          }
        }
      },
    }
  } catch (e) {
    bottom?.unmount()
    top.unmount()
    throw e
  }
}
