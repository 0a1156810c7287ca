/**
 * What each method did between a pair of places, remembered for the life of the process: the
 * JS twin of crate/src/engine/memo.rs, with the same states and rules (`Unsupported` never
 * overwrites `Works`; `auto` and lists skip what is `Unsupported`, all but their last; a hard
 * link's EACCES is recorded only where links never worked, link.ts `denied`).
 *
 * The key: on Linux the mount ids of the source and of the destination's directory, found in
 * /proc/self/mountinfo by their real paths (`mountKey` in fsinfo.ts), since Node's `stat` has no
 * `statx` mount id; elsewhere the devices (`stat().dev`), so there two bind mounts of one
 * filesystem share a key (an EXDEV between them would make `auto` skip hard links inside
 * either: slower, not wrong).
 * @module
 */
import type { Method } from './method.js'

export type State = 'unknown' | 'works' | 'unsupported'
export type Pair = string

interface Slot {
  state: State
  code: string
}

const memo = new Map<Pair, Partial<Record<Method, Slot>>>()
/** Source devices with some method recorded as unsupported to somewhere. */
const unsupportedFrom = new Set<bigint>()
/** Per method, the source devices from which it has worked to some destination. */
const worksFrom = new Map<Method, Set<bigint>>()

export function pair(srcDev: bigint, destDev: bigint): Pair {
  return `${srcDev}:${destDev}`
}

export function anyUnsupportedFrom(srcDev: bigint): boolean {
  return unsupportedFrom.has(srcDev)
}

/** Whether any method is recorded as unsupported between any two places (memo.rs `any_unsupported`). */
export function anyUnsupported(): boolean {
  return unsupportedFrom.size > 0
}

export function noteWorksFrom(srcDev: bigint, method: Method): void {
  let devs = worksFrom.get(method)
  if (!devs) worksFrom.set(method, (devs = new Set()))
  devs.add(srcDev)
}

export function workedFrom(srcDev: bigint, method: Method): boolean {
  return worksFrom.get(method)?.has(srcDev) ?? false
}

export function get(p: Pair, method: Method): State {
  return memo.get(p)?.[method]?.state ?? 'unknown'
}

/** The code `method` failed with between `p`, when it is known not to work there. */
export function unsupported(p: Pair, method: Method): string | null {
  const s = memo.get(p)?.[method]
  return s?.state === 'unsupported' ? s.code : null
}

/** Records an outcome (the reset's clone memo uses it with ENOTSUP). */
export function set(p: Pair, method: Method, state: State): void {
  record(p, method, state, 'ENOTSUP', null)
}

export function setUnsupported(p: Pair, srcDev: bigint, method: Method, code: string): void {
  record(p, method, 'unsupported', code, srcDev)
}

function record(p: Pair, method: Method, state: State, code: string, srcDev: bigint | null): void {
  let slots = memo.get(p)
  if (!slots) memo.set(p, (slots = {}))
  const now = slots[method]?.state ?? 'unknown'
  if (now === state || (state === 'unsupported' && now === 'works')) return
  slots[method] = { state, code }
  if (state === 'unsupported' && srcDev !== null) unsupportedFrom.add(srcDev)
}

/** Forgets everything (with `clearFallbackMemo`). */
export function clear(): void {
  memo.clear()
  unsupportedFrom.clear()
  worksFrom.clear()
  linksRefused.clear()
  noLinks.clear()
}

/**
 * Devices where a reset's fresh inode, with a single link, could not be linked (EMLINK): the
 * filesystem refuses every link. Calls at the limit there copy without trying a reset again.
 */
export const linksRefused = new Set<bigint>()

/**
 * Devices where two files of ours could not be linked (link.ts `linksWorkIn`): an EPERM there
 * is "no hard links", never a hidden link limit (link.rs `NO_LINKS`).
 */
export const noLinks = new Set<bigint>()
