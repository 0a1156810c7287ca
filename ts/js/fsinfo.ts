/**
 * `fsInfo` for the JS backend (crate/src/engine/fsinfo.rs): the directory's device from `stat`,
 * its mount from /proc/self/mountinfo (Linux), the link limit by filesystem type.
 *
 * Differences, all from what Node cannot read: the native engine asks `pathconf(_PC_LINK_MAX)`
 * on macOS and Windows' volume information for the type; Node has neither, so there (and on
 * every OS without /proc/self/mountinfo) `fsType` and `source` are null and `linkMax` unknown.
 * On Linux the native engine does not use pathconf either (glibc's answer is a guess by type),
 * so both backends give the same result there.
 * @module
 */
import type { FsInfo } from '../binding.js'
import { fail } from './error.js'
import { op, type P, type Step } from './ops.js'

export interface MountLine {
  major: number
  minor: number
  mountPoint: Buffer
  fsType: string
  source: string
}

/** `\040` and friends, as mountinfo escapes them. */
function unescapeOctal(s: string): Buffer {
  return Buffer.from(s.replace(/\\([0-3][0-7]{2})/g, (_, d: string) => String.fromCharCode(parseInt(d, 8))), 'latin1')
}

export function parseMountinfoLine(line: string): MountLine | null {
  const at = line.indexOf(' - ')
  if (at < 0) return null
  const head = line.slice(0, at).split(' ')
  const tail = line.slice(at + 3).split(' ')
  const dev = head[2]?.split(':')
  if (!dev || dev.length !== 2 || head[4] === undefined || tail.length < 2) return null
  const [major, minor] = dev.map(Number)
  if (!Number.isInteger(major) || !Number.isInteger(minor)) return null
  return { major, minor, mountPoint: unescapeOctal(head[4]), fsType: tail[0], source: unescapeOctal(tail[1]).toString() }
}

/** The mount for `device` (the last with it), else the longest mount point above `path`. */
export function pickMount(mounts: MountLine[], major: number, minor: number, path: Buffer): MountLine | null {
  for (let i = mounts.length - 1; i >= 0; i--) {
    if (mounts[i].major === major && mounts[i].minor === minor) return mounts[i]
  }
  let best: MountLine | null = null
  for (let i = mounts.length - 1; i >= 0; i--) {
    const mp = mounts[i].mountPoint
    const under = mp.equals(Buffer.from('/')) || (path.subarray(0, mp.length).equals(mp) && (path.length === mp.length || path[mp.length] === 0x2f))
    if (under && (!best || mp.length > best.mountPoint.length)) best = mounts[i]
  }
  return best
}

export function linkMaxByType(fsType: string, source: string | null): number | null {
  const efs = source !== null && source.includes('.efs.') && source.includes('.amazonaws.com')
  switch (fsType.toLowerCase()) {
    case 'ext2':
    case 'ext3':
      return 32_000
    case 'ext4':
      return 65_000
    case 'btrfs':
      return 65_535
    case 'xfs':
      return 2_147_483_647
    case 'tmpfs':
    case 'ramfs':
      return 4_294_967_295
    case 'nfs':
    case 'nfs4':
      return efs ? 177 : null
    case 'ntfs':
      return 1024
    default:
      return null
  }
}

/** glibc's and musl's dev_t encoding (gnu_dev_major / gnu_dev_minor). */
function majorMinor(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return [Number(major), Number(minor)]
}

function info(real: Buffer, dev: bigint, mountinfo: string | null): FsInfo {
  let fsType: string | null = null
  let source: string | null = null
  if (mountinfo !== null) {
    const mounts = mountinfo.split('\n').map(parseMountinfoLine).filter((m): m is MountLine => m !== null)
    const [major, minor] = majorMinor(dev)
    const m = pickMount(mounts, major, minor, real)
    if (m) [fsType, source] = [m.fsType, m.source]
  }
  const linkMax = fsType === null ? null : linkMaxByType(fsType, source)
  return { fsType, source, device: Number(dev), linkMax, linkMaxFrom: linkMax === null ? 'unknown' : 'fstype' }
}

/** The filesystem of `path` (errors: `stat` on `path`, as the native engine names them). */
export function* fsInfo(path: P): Step<FsInfo> {
  let dev: bigint
  try {
    dev = (yield* op('stat', path)).dev
  } catch (e) {
    throw fail(e, 'stat', path)
  }
  let text: string | null = null
  if (process.platform === 'linux') {
    try {
      text = (yield* op('readFile', '/proc/self/mountinfo')).toString()
    } catch {}
  }
  let real = typeof path === 'string' ? Buffer.from(path) : path
  if (text !== null) {
    try {
      real = Buffer.from(yield* op('realpath', path))
    } catch {}
  }
  return info(real, dev, text)
}

/**
 * The memo's key for the mount holding `path` (sys::mount_key): on Linux the mount id of the
 * longest mount point above its real path in /proc/self/mountinfo (statx's mount id, which Node
 * does not give), so two bind mounts of one filesystem are told apart; elsewhere, or when
 * that fails, the device. The table is read at every lookup: a cached one goes stale when a
 * mount is made (a bind mount made after it would share its parent's key). Lookups happen only
 * after a failure, or for sources with a method known not to work (`anyUnsupportedFrom`).
 */
export function* mountKey(path: P, dev: bigint): Step<string> {
  if (process.platform !== 'linux') return `d${dev}`
  try {
    const real = Buffer.from(yield* op('realpath', path))
    const text = (yield* op('readFile', '/proc/self/mountinfo')).toString()
    const mounts: Array<{ id: string; point: Buffer }> = []
    for (const line of text.split('\n')) {
      const fields = line.split(' ')
      if (fields.length > 4) mounts.push({ id: fields[0], point: unescapeOctal(fields[4]) })
    }
    let best: { id: string; point: Buffer } | null = null
    // The last of equal mount points is on top.
    for (const m of mounts) {
      const p = m.point
      const under = p.length === 1 ? p[0] === 0x2f : real.subarray(0, p.length).equals(p) && (real.length === p.length || real[p.length] === 0x2f)
      if (under && (best === null || p.length >= best.point.length)) best = m
    }
    return best === null ? `d${dev}` : `m${best.id}`
  } catch {
    return `d${dev}`
  }
}
