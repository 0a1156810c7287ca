import { lstatSync } from 'node:fs'
import { fsInfoSync, type LinkedFile, scanCache } from '../cache.js'
import { resetEntry } from '../index.js'
import { cacheHeader, threshold, type ThresholdFlags } from './limit.js'
import { count, duration, linkedText, type Output } from './output.js'
import { UsageError } from './run.js'

export interface ResetFlags extends ThresholdFlags {
  dryRun?: boolean
}

interface ResetOutcome extends LinkedFile {
  reset: boolean
  /** Held (a pnpm store's file: `resetEntry`'s `hold`): it has a second link until a project links it. */
  held: boolean
  error: { code: string; message: string } | null
}

/** Resets in flight at once: libuv's pool has 4 threads. */
const CONCURRENCY = 4

export async function resetCommand(dir: string, flags: ResetFlags, out: Output, signal: AbortSignal): Promise<number> {
  const started = performance.now()
  const fs = fsInfoSync(dir)
  const t = threshold(flags, fs)
  if (t.nearAt === null) {
    throw new UsageError(`the link limit of ${dir} (${fs.fsType ?? 'unknown type'}) is unknown: pass --max-links N or --above N`)
  }
  const walk = out.progress('scan', 'entries', 0)
  let near: LinkedFile[]
  try {
    near = (await scanCache(dir, { nearAt: t.nearAt, signal, onProgress: (p) => walk.update(p.done) })).near
  } finally {
    walk.stop()
  }
  const entries: ResetOutcome[] = near.map((n) => ({ ...n, reset: false, held: false, error: null }))
  if (!flags.dryRun && entries.length > 0) {
    const bar = out.progress('reset', 'entries', entries.length)
    let next = 0
    let done = 0
    const worker = async () => {
      while (next < entries.length && !signal.aborted) {
        const e = entries[next++]
        try {
          await resetEntry(e.raw)
          e.reset = true
          e.held = lstatSync(e.raw).nlink > 1
        } catch (err) {
          const { code = 'UNKNOWN', message } = err as NodeJS.ErrnoException
          e.error = { code, message }
        }
        bar.update(++done, entries.length)
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker))
    } finally {
      bar.stop()
    }
    // Each reset is whole or not done; stop between them.
    signal.throwIfAborted()
  }
  const failed = entries.filter((e) => e.error)
  const resets = entries.filter((e) => e.reset).length
  const elapsedMs = performance.now() - started
  out.result({ dir, fs, ...t, dryRun: flags.dryRun ?? false, resets, failed: failed.length, entries, elapsedMs }, () => {
    const lines = [cacheHeader(dir, fs.fsType, t)]
    const verb = flags.dryRun ? 'would reset' : 'reset'
    lines.push(`  ${verb} ${count(entries.length)} entries with ${t.basis}`)
    for (const e of entries) {
      const state = e.error
        ? `failed: ${e.error.message}`
        : flags.dryRun
          ? ''
          : e.held
            ? 'held until a project links it: cachelink clean drops the hold then'
            : 'now 1 link'
      lines.push(`    ${linkedText(e)}${state ? `  (${state})` : ''}`)
    }
    if (resets > 0) lines.push('  the old links keep the old copy; new links go to the fresh one')
    lines.push(`  done in ${duration(elapsedMs)}`)
    return lines
  })
  return failed.length > 0 ? 1 : 0
}
