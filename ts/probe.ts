import { randomBytes } from 'node:crypto'
import { rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { type FsInfo, fsInfoSync } from './cache.js'
import { clearFallbackMemo, linkFileSync } from './index.js'
import { type LinkMethod, type PathLike, toPath } from './options.js'

/** Whether a method works between two places, and the code that said no. */
export interface MethodProbe {
  works: boolean
  code: string | null
}

export interface ProbeResult {
  cache: FsInfo & { dir: string }
  target: FsInfo & { dir: string }
  /** Hard links (and, on most systems, clones) need both on one device. */
  sameDevice: boolean
  methods: Record<LinkMethod, MethodProbe>
  /** What `method: 'auto'` chose, and what it tried first that did not work. */
  auto: { method: LinkMethod | 'none'; fallbacks: Array<{ method: LinkMethod; code: string }> }
}

const METHODS: LinkMethod[] = ['hardlink', 'clone', 'symlink', 'copy']

/**
 * Finds out what works between a cache directory and a target directory by trying it: a small
 * temp file is made in `cacheDir` and materialized into `targetDir` by each method, then
 * everything is removed (the temp names are the ones `cleanTemp` recognizes). This answers
 * "why did it copy?": a different device (EXDEV, common with Docker volumes and CI caches), a
 * filesystem without clones, and so on. Clears the process's fallback memo.
 *
 * @example
 * ```ts
 * const p = await probe('/cache', '/app/node_modules')
 * p.auto.method      // 'copy'
 * p.auto.fallbacks   // [{ method: 'hardlink', code: 'EXDEV' }, { method: 'clone', code: 'EXDEV' }]
 * ```
 */
export async function probe(cacheDir: PathLike, targetDir: PathLike): Promise<ProbeResult> {
  return probeSync(cacheDir, targetDir)
}

/** The synchronous twin of {@link probe}. */
export function probeSync(cacheDir: PathLike, targetDir: PathLike): ProbeResult {
  const cache = resolve(String(toPath(cacheDir, 'cacheDir', probeSync)))
  const target = resolve(String(toPath(targetDir, 'targetDir', probeSync)))
  for (const dir of [cache, target]) statSync(dir) // ENOENT/ENOTDIR in Node's words
  const temp = (dir: string, what: string) =>
    join(dir, `.${what}.cachelink-${process.pid}-${randomBytes(8).toString('hex')}`)
  const src = temp(cache, 'probe')
  const made: string[] = []
  try {
    writeFileSync(src, 'cachelink probe\n', { flag: 'wx' })
    made.push(src)
    const dest = (what: string) => {
      const d = temp(target, `probe-${what}`)
      made.push(d)
      return d
    }
    clearFallbackMemo()
    const auto = linkFileSync(src, dest('auto'))
    const methods = {} as Record<LinkMethod, MethodProbe>
    for (const method of METHODS) {
      try {
        linkFileSync(src, dest(method), { method, fallback: false })
        methods[method] = { works: true, code: null }
      } catch (e) {
        methods[method] = { works: false, code: (e as NodeJS.ErrnoException).code ?? String(e) }
      }
    }
    const c = fsInfoSync(cache)
    const t = fsInfoSync(target)
    return {
      cache: { dir: cache, ...c },
      target: { dir: target, ...t },
      sameDevice: c.device === t.device,
      methods,
      auto: { method: auto.method, fallbacks: auto.fallbacks },
    }
  } finally {
    for (const p of made) rmSync(p, { force: true })
    clearFallbackMemo()
  }
}
