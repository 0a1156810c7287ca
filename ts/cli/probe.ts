import { probe } from '../probe.js'
import { limitText } from './limit.js'
import type { Output } from './output.js'

export async function probeCommand(cacheDir: string, targetDir: string, out: Output): Promise<number> {
  const r = await probe(cacheDir, targetDir)
  out.result(r, () => {
    const where = (fs: typeof r.cache) => `${fs.dir} (${fs.fsType ?? 'unknown type'}${fs.source ? ` from ${fs.source}` : ''})`
    const method = (m: keyof typeof r.methods) => {
      const p = r.methods[m]
      return `${`${m}:`.padEnd(10)}${p.works ? 'yes' : `no (${p.code})`}`
    }
    const tried = r.auto.fallbacks.map((f) => `${f.method} ${f.code}`).join(', ')
    return [
      `cache:    ${where(r.cache)}`,
      `target:   ${where(r.target)}`,
      `device:   ${r.sameDevice ? 'same' : 'different: hard links and most clones cannot cross devices (EXDEV)'}`,
      `limit:    ${limitText(r.cache.linkMax, r.cache.linkMaxFrom)} (the cache's filesystem)`,
      method('hardlink'),
      method('clone'),
      method('symlink'),
      method('copy'),
      `auto:     ${r.auto.method}${tried ? ` (after ${tried})` : ''}`,
    ]
  })
  return 0
}
