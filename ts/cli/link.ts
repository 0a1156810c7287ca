import { linkFile } from '../index.js'
import { type LinkFlags, linkOptions } from './args.js'
import type { Output } from './output.js'

export async function linkCommand(src: string, dest: string, flags: LinkFlags, out: Output): Promise<number> {
  const r = await linkFile(src, dest, linkOptions(flags))
  out.result({ src, dest, ...r }, () => {
    const lines = [`${r.method}: ${src} -> ${dest}`]
    for (const f of r.fallbacks) lines.push(`  ${f.method} did not work here (${f.code})`)
    if (r.linkRefused) lines.push(`  the hard link of this file was refused (${r.linkRefused})`)
    if (r.linkCounts === 'hidden') lines.push('  link counts are hidden here (one after a link): --max-links not applied')
    if (r.linkLimit === 'reset') lines.push('  the cache entry was at the link limit and was reset')
    if (r.linkLimit === 'copy') lines.push('  the cache entry was at the link limit: copied')
    if (r.linkLimit === 'copy-readonly-cache') {
      lines.push(`  the cache entry was at the link limit and cannot be reset (${r.resetError}): copied`)
    }
    return lines
  })
  return 0
}
