import { backend, backendWhy } from '../addon.js'
import { probe } from '../probe.js'
import { limitText } from './limit.js'
import type { Output } from './output.js'

export async function probeCommand(cacheDir: string, targetDir: string, out: Output): Promise<number> {
  const r = await probe(cacheDir, targetDir)
  out.result({ ...r, backend }, () => {
    const where = (fs: typeof r.cache) => `${fs.dir} (${fs.fsType ?? 'unknown type'}${fs.source ? ` from ${fs.source}` : ''})`
    const method = (m: keyof typeof r.methods) => {
      const p = r.methods[m]
      const works = p.works === null ? 'not tried (no file to try with)' : p.works ? 'yes' : `no (${p.code})`
      return `${`${m}:`.padEnd(10)}${works}`
    }
    const tried = r.auto.fallbacks.map((f) => `${f.method} ${f.code}`).join(', ')
    const source = r.source
      ? `${r.source.path} (${r.source.temp ? 'a temp file: the cache has no file; removed' : 'a file of the cache, only read'})`
      : 'none: the cache has no file and cannot take a temp one, so nothing was tried'
    const writable = r.cacheWritable
      ? 'yes: an entry at the link limit is reset'
      : `no (${r.cacheWriteError}): at the link limit each file gets a copy of its own`
    const error = r.auto.error ? `, fails with ${r.auto.error.code} (${r.auto.error.method})` : ''
    return [
      `cache:    ${where(r.cache)}`,
      `target:   ${where(r.target)}`,
      `device:   ${r.sameDevice ? 'same' : 'different: hard links and most clones cannot cross devices (EXDEV)'}`,
      `limit:    ${limitText(r.cache.linkMax, r.cache.linkMaxFrom)} (the cache's filesystem)`,
      ...(r.linkCounts === 'hidden'
        ? ['links:    counts hidden (a hard link left one): --max-links cannot be applied here']
        : []),
      `writable: ${writable}`,
      `tried:    ${source}`,
      method('hardlink'),
      method('clone'),
      method('symlink'),
      method('copy'),
      `auto:     ${r.auto.method}${tried ? ` (after ${tried})` : ''}${error}`,
      `backend:  ${backend} (${backendWhy})`,
    ]
  })
  return 0
}
