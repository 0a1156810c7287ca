// Which entries count as "near the link limit": shared by `scan` and `reset`.
import type { FsInfo } from '../cache.js'
import { count } from './output.js'

export interface Threshold {
  /** Entries with at least this many links; null when nothing can be said (limit unknown). */
  nearAt: number | null
  /** The limit used, and where it came from. */
  limit: number | null
  limitFrom: 'max-links' | FsInfo['linkMaxFrom']
  /** In words, for the text output. */
  basis: string
}

export interface ThresholdFlags {
  near?: number
  above?: number
  maxLinks?: number
}

export function threshold(flags: ThresholdFlags, fs: FsInfo, defaultNear = 0.9): Threshold {
  const limit = flags.maxLinks ?? fs.linkMax
  const limitFrom = flags.maxLinks !== undefined ? 'max-links' : fs.linkMaxFrom
  if (flags.above !== undefined) {
    return { nearAt: flags.above + 1, limit, limitFrom, basis: `more than ${count(flags.above)} links` }
  }
  const near = flags.near ?? defaultNear
  if (limit === null) {
    return { nearAt: null, limit, limitFrom, basis: 'the link limit here is unknown' }
  }
  const nearAt = Math.max(2, Math.ceil(near * limit))
  return { nearAt, limit, limitFrom, basis: `at least ${count(nearAt)} links: ${near} of ${count(limit)}` }
}

/** `/store: ext4, at most 65,000 links per file, from the filesystem type` */
export function cacheHeader(dir: string, fsType: string | null, t: Threshold): string {
  return `${dir}: ${fsType ?? 'unknown type'}, ${limitText(t.limit, t.limitFrom)}`
}

export function limitText(limit: number | null, from: Threshold['limitFrom']): string {
  if (limit === null) return 'link limit unknown'
  if (limit >= 4_294_967_295) return 'no practical link limit'
  const why = { 'max-links': '--max-links', pathconf: 'pathconf', fstype: 'the filesystem type', unknown: '' }[from]
  return `at most ${count(limit)} links per file, from ${why}`
}
