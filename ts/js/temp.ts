/**
 * Temp names beside their final place, as crate/src/engine/temp.rs makes them, so `cleanTemp`
 * (either backend) recognizes what either left: `.<name>.cachelink-<host>-<pid>-<random>`
 * (`.cachelink-<host>-<pid>-<random>` for names over 160 bytes), stages with
 * `.cachelink-stage-`.
 * @module
 */
import { randomBytes } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import type { P } from './ops.js'

export const MARKER = '.cachelink-'
export const STAGE_MARKER = '.cachelink-stage-'
/** A reset's hold (reset.rs `hold_link`): `.<name>.cachelink-held-<host>-<pid>-<random>`. */
export const HELD_MARKER = '.cachelink-held-'
const MAX_NAME = 160

const isWindows = process.platform === 'win32'

let id: string | undefined

/**
 * This machine's id in temp names: 48 bits of FNV-1a over the same facts as `host_id()` in
 * temp.rs (on Linux: host name, /etc/machine-id, boot id, the pid namespace's link), so both
 * backends give the same id on Linux. On macOS the native engine hashes `kern.boottime`, which
 * Node cannot read: the JS id hashes the host name only there; on Windows Node's host name is
 * not the DNS name the native engine hashes. Either way an id is stable for a host, and a temp
 * of the other backend is only seen as "another host's" (left to `olderThan`, never removed
 * early).
 */
export function hostId(): string {
  if (id !== undefined) return id
  const parts: Buffer[] = [Buffer.from(hostname())]
  if (process.platform === 'linux') {
    for (const file of ['/etc/machine-id', '/proc/sys/kernel/random/boot_id']) {
      parts.push(Buffer.from([0]))
      try {
        parts.push(readFileSync(file))
      } catch {}
    }
    parts.push(Buffer.from([0]))
    try {
      parts.push(Buffer.from(readlinkSync('/proc/self/ns/pid')))
    } catch {}
  }
  let h = 0xcbf29ce484222325n
  for (const b of Buffer.concat(parts)) {
    h ^= BigInt(b)
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn
  }
  id = (h & 0xffffffffffffn).toString(16).padStart(12, '0')
  return id
}

function isSep(byte: number): boolean {
  return byte === 0x2f || (isWindows && byte === 0x5c)
}

/**
 * `[directory with its trailing separator, or empty; file name]` of a path, as bytes. Trailing
 * separators are not a name (`a/b/` is `b` in `a/`), as Rust's `Path` takes them.
 */
function split(p: P): [Buffer, Buffer] {
  let b = typeof p === 'string' ? Buffer.from(p) : p
  let end = b.length
  while (end > 1 && isSep(b[end - 1])) end--
  b = b.subarray(0, end)
  let i = b.length
  while (i > 0 && !isSep(b[i - 1])) i--
  return [b.subarray(0, i), b.subarray(i)]
}

function nameBeside(beside: P, marker: string): P {
  const [dir, base] = split(beside)
  const suffix = `${marker}${hostId()}-${process.pid}-${randomBytes(8).toString('hex')}`
  const name = base.length > 0 && base.length <= MAX_NAME ? Buffer.concat([Buffer.from('.'), base, Buffer.from(suffix)]) : Buffer.from(suffix)
  const out = Buffer.concat([dir, name])
  return typeof beside === 'string' ? out.toString() : out
}

/** A fresh temp path in the directory of `beside`. */
export function pathBeside(beside: P): P {
  return nameBeside(beside, MARKER)
}

/** A fresh stage path beside `into`. */
export function stageBeside(into: P): P {
  return nameBeside(into, STAGE_MARKER)
}

/** A fresh hold path beside `entry`, or null for a name too long to be carried in it. */
export function heldBeside(entry: P): P | null {
  const [, base] = split(entry)
  if (base.length === 0 || base.length > MAX_NAME) return null
  return nameBeside(entry, HELD_MARKER)
}

/** The directory `p` is in (`.` for a bare name). */
export function dirOf(p: P): P {
  const [dir] = split(p)
  let end = dir.length
  // Keep a lone root separator.
  if (end > 1) end--
  const out = end === 0 ? Buffer.from('.') : dir.subarray(0, end)
  return typeof p === 'string' ? out.toString() : out
}
