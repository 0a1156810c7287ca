import { fsInfoSync, type ScanResult, scanCache } from '../cache.js'
import { cacheHeader, type Threshold, threshold, type ThresholdFlags } from './limit.js'
import { bytes, count, duration, leftoverText, linkedText, type Output, unrecognizedText } from './output.js'

export interface ScanFlags extends ThresholdFlags {
  top: number
}

export async function scanCommand(dir: string, flags: ScanFlags, out: Output, signal: AbortSignal): Promise<number> {
  const fs = fsInfoSync(dir)
  const t = threshold(flags, fs)
  const bar = out.progress('scan', 'entries', 0)
  let s: ScanResult
  try {
    s = await scanCache(dir, { nearAt: t.nearAt ?? 0, signal, onProgress: (p) => bar.update(p.done) })
  } finally {
    bar.stop()
  }
  out.result({ dir, fs, ...t, ...s }, () => scanText(dir, fs.fsType, t, s, flags.top))
  return 0
}

export function scanText(dir: string, fsType: string | null, t: Threshold, s: ScanResult, top: number): string[] {
  const lines = [
    cacheHeader(dir, fsType, t),
    `  files:     ${count(s.files)} (${bytes(s.bytes)}) in ${count(s.dirs)} directories${s.others ? `, ${count(s.others)} other` : ''}`,
    `  links per file (most: ${count(s.mostLinks)}):`,
  ]
  for (const h of s.histogram) {
    const range = h.to === null ? `${count(h.from)}+` : h.from === h.to ? count(h.from) : `${count(h.from)}-${count(h.to)}`
    lines.push(`    ${range.padStart(13)}  ${count(h.files)}`)
  }
  if (t.nearAt === null) {
    lines.push(`  near the limit: ${t.basis}; pass --max-links N or --above N`)
  } else {
    lines.push(`  near the limit (${t.basis}): ${count(s.near.length)}`)
    for (const n of s.near.slice(0, top)) lines.push(`    ${linkedText(n)}`)
    if (s.near.length > top) lines.push(`    ... and ${count(s.near.length - top)} more (--top N, or --json)`)
  }
  lines.push(`  leftovers: ${count(s.leftovers.length)}${s.leftovers.length ? ` (remove with: cachelink clean ${dir})` : ''}`)
  for (const l of s.leftovers.slice(0, top)) {
    lines.push(`    ${leftoverText(l)}`)
  }
  if (s.unrecognized.length) lines.push(`  like leftovers but not (left alone): ${count(s.unrecognized.length)}`)
  for (const u of s.unrecognized.slice(0, top)) lines.push(`    ${unrecognizedText(u)}`)
  for (const u of s.unreadable) lines.push(`  unreadable (${u.code}): ${u.path}`)
  lines.push(`  scanned in ${duration(s.elapsedMs)}`)
  return lines
}
