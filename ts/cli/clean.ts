import { cleanTemp } from '../cache.js'
import { count, duration, leftoverText, type Output, unrecognizedText } from './output.js'

export interface CleanFlags {
  olderThan: number
  dryRun?: boolean
}

export async function cleanCommand(dir: string, flags: CleanFlags, out: Output, signal: AbortSignal): Promise<number> {
  const bar = out.progress('clean', 'entries', 0)
  let removed, unrecognized
  try {
    ;({ removed, unrecognized } = await cleanTemp(dir, {
      olderThanMs: flags.olderThan,
      dryRun: flags.dryRun ?? false,
      signal,
      onProgress: (p) => bar.update(p.done),
    }))
  } finally {
    bar.stop()
  }
  const dryRun = flags.dryRun ?? false
  out.result({ dir, olderThanMs: flags.olderThan, dryRun, removed, unrecognized }, () => [
    `${dryRun ? 'would remove' : 'removed'} ${count(removed.length)} leftovers older than ${duration(flags.olderThan)} whose process is gone (or that another host left)`,
    ...removed.map((l) => `  ${leftoverText(l)}`),
    ...(unrecognized.length ? [`left ${count(unrecognized.length)} names that look like leftovers but are not:`] : []),
    ...unrecognized.map((u) => `  ${unrecognizedText(u)}`),
  ])
  return 0
}
