import { readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { type ImportEntry, type ImportFileEntry, type ImportStats, importFiles, importTree } from '../import.js'
import { type LinkFlags, linkOptions } from './args.js'
import { byMethod, count, duration, type Output } from './output.js'

export interface ImportFlags extends LinkFlags {
  from: string
  into: string
  threads?: number
  atomic: boolean
  onExisting: 'merge' | 'replace' | 'skip-if-linked' | 'error'
  keep?: string[]
  onConflict: 'error' | 'first' | 'last'
}

/** An error about the index file's content, in the CLI's one-line form. */
function badIndex(file: string, why: string): Error {
  return Object.assign(new Error(`${file}: ${why}`), { code: 'ERR_CACHELINK_BAD_INDEX', path: file })
}

/**
 * The index file: what `importFiles` takes, as JSON: an array of `{ path, src, executable?,
 * size? }` or an object mapping paths to sources. A relative `src` is relative to the file.
 */
export function readIndex(file: string): ImportEntry[] {
  let data: unknown
  try {
    data = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e
    throw badIndex(file, `not JSON: ${(e as Error).message}`)
  }
  const base = dirname(file)
  const at = (src: unknown) => (typeof src === 'string' && !isAbsolute(src) ? resolve(base, src) : src)
  if (Array.isArray(data)) {
    return data.map((e, i) => {
      if (typeof e !== 'object' || e === null) throw badIndex(file, `entry ${i} is not an object`)
      const src = (e as Partial<ImportFileEntry>).src
      return (src === undefined ? e : { ...e, src: at(src) }) as ImportEntry
    })
  }
  if (typeof data === 'object' && data !== null) {
    return Object.entries(data).map(([path, src]) => ({ path, src: at(src) }) as ImportEntry)
  }
  throw badIndex(file, 'expected an array of { path, src } or an object of path: src')
}

export async function importCommand(flags: ImportFlags, out: Output, signal: AbortSignal): Promise<number> {
  const from = resolve(flags.from)
  const into = resolve(flags.into)
  const source = statSync(from).isDirectory() ? 'tree' : 'index'
  const entries = source === 'index' ? readIndex(from) : undefined
  const bar = out.progress('import', entries ? 'files' : 'entries', entries?.length ?? 0)
  const options = {
    ...linkOptions(flags),
    threads: flags.threads,
    atomic: flags.atomic,
    onExisting: flags.onExisting,
    keep: flags.keep,
    onConflict: flags.onConflict,
    signal,
    onProgress: (p: { done: number; total: number }) => bar.update(p.done, p.total),
  }
  let s: ImportStats
  try {
    s = entries ? await importFiles(entries, { ...options, into }) : await importTree(from, into, options)
  } finally {
    bar.stop()
  }
  out.result({ from, into, source, ...s }, () => {
    const by = byMethod(s)
    return [
      `imported ${count(s.files)} files and ${count(s.dirs)} directories into ${into} in ${duration(s.elapsedMs)}`,
      `  ${by || 'no files'}; ${count(s.resets)} resets at the link limit, ${count(s.fallbacks.reduce((n, f) => n + f.count, 0))} fallbacks`,
    ]
  })
  return 0
}
