import { addon } from './addon.js'
import type { FsInfo } from './cache.js'
import { rethrow } from './errors.js'
import { type PathLike, resolvePath, toPath } from './options.js'
import { checkOptions, type Known } from './suggest.js'

type Method = 'hardlink' | 'clone' | 'symlink' | 'copy'

/** `probe` takes no options yet: any given is refused, as a misspelled one would be. */
export type ProbeOptions = Record<never, never>

/** `probe`'s options, one line each (none yet; see `LINK_OPTIONS` in options.ts). */
export const PROBE_OPTIONS = {} as const satisfies Known<keyof ProbeOptions>

/** Whether a method works between two places, and the code that said no. */
export interface MethodProbe {
  /** `null`: not tried, because there was no file to try with (see {@link ProbeResult.source}). */
  works: boolean | null
  code: string | null
}

/** The cache file the methods were tried with. */
export interface ProbeSource {
  path: string
  /**
   * `true`: the cache had no non-empty file, so the probe made a small temp file there (a name
   * `cleanTemp` recognizes) and removed it after. `false`: an existing file of the cache, only
   * read and linked from.
   */
  temp: boolean
}

export interface ProbeResult {
  cache: FsInfo & { dir: string }
  target: FsInfo & { dir: string }
  /** Hard links (and, on most systems, clones) need both on one device. */
  sameDevice: boolean
  /**
   * The file tried with; `null` when the cache has no non-empty file within the first 4,096
   * directory entries and no temp file could be made there (read-only): then nothing was tried.
   */
  source: ProbeSource | null
  /**
   * Whether this process may make files where a reset would (the source's directory, else the
   * cache directory), asked without writing (`access(W_OK)` on Unix). Resets need it.
   */
  cacheWritable: boolean
  /** When not writable, the code that says so: `'EROFS'` (read-only mount), `'EACCES'`, ... */
  cacheWriteError: string | null
  /**
   * What a hard link at the link limit will do here: `'reset'` (the entry is replaced by a fresh
   * copy and linked), or `'copy-readonly-cache'` (the cache cannot be written, so each file
   * past the limit gets a copy of its own: see `linkFile`'s `linkLimit`).
   */
  atLinkLimit: 'reset' | 'copy-readonly-cache'
  methods: { hardlink: MethodProbe; clone: MethodProbe; symlink: MethodProbe; copy: MethodProbe }
  /**
   * What `method: 'auto'` would pick here, worked out from `methods` in its order on this OS;
   * the methods it would move past as unsupported here (EXDEV, ENOTSUP, ...), with their codes;
   * and `error`, the method whose failure is not of that kind (EROFS, EACCES, ...), with which
   * `linkFile` would fail (`method` is then `'none'`).
   */
  auto: {
    method: Method | 'none'
    fallbacks: Array<{ method: Method; code: string }>
    error: { method: Method; code: string } | null
  }
}

/**
 * Finds out what works between a cache directory and a target directory by trying it, without
 * writing into the cache: an existing non-empty file of the cache (the first found in a short
 * walk: a pnpm store's `files/xx/...`, a uv cache's `archive-v0/...`) is materialized into
 * `targetDir` by each method under temp names (ones `cleanTemp` recognizes), all removed after.
 * Only a cache without any such file gets a temp file of its own, when it is writable. Answers
 * "why did it copy?": a different device (EXDEV, common with Docker volumes and CI caches), a
 * filesystem without clones, a read-only cache (`cacheWritable`), and so on. The methods are
 * tried one by one, never through `linkFile`: what the process learned about methods that do not
 * work (the fallback memo) is neither read nor changed. Runs on libuv's pool, as `fs` calls do.
 *
 * @example
 * ```ts
 * const p = await probe('/cache', '/app/node_modules')
 * p.auto.method      // 'copy'
 * p.auto.fallbacks   // [{ method: 'hardlink', code: 'EXDEV' }, { method: 'clone', code: 'EXDEV' }]
 * p.cacheWritable    // false: at the link limit, files get copies ('copy-readonly-cache')
 * ```
 */
export async function probe(cacheDir: PathLike, targetDir: PathLike, options?: ProbeOptions): Promise<ProbeResult> {
  const [cache, target] = dirs(cacheDir, targetDir, probe)
  checkOptions(options, PROBE_OPTIONS, 'probe', probe)
  try {
    return result(cache, target, await addon().probe(cache, target))
  } catch (e) {
    rethrow(e, probe)
  }
}

/** The synchronous twin of {@link probe}. */
export function probeSync(cacheDir: PathLike, targetDir: PathLike, options?: ProbeOptions): ProbeResult {
  const [cache, target] = dirs(cacheDir, targetDir, probeSync)
  checkOptions(options, PROBE_OPTIONS, 'probe', probeSync)
  try {
    return result(cache, target, addon().probeSync(cache, target))
  } catch (e) {
    rethrow(e, probeSync)
  }
}

/** Both directories made absolute (a Buffer stays raw bytes: a name need not be UTF-8). */
function dirs(cacheDir: PathLike, targetDir: PathLike, caller: Function): [string | Buffer, string | Buffer] {
  return [resolvePath(toPath(cacheDir, 'cacheDir', caller)), resolvePath(toPath(targetDir, 'targetDir', caller))]
}

/** What the addon answers (`NativeProbe`, checked in `binding-types.ts`): the facade adds the rest. */
export interface NativeProbeResult {
  cache: FsInfo
  target: FsInfo
  source: ProbeResult['source']
  cacheWritable: boolean
  cacheWriteError: string | null
  atLinkLimit: ProbeResult['atLinkLimit']
  methods: ProbeResult['methods']
  auto: ProbeResult['auto']
}

function result(cache: string | Buffer, target: string | Buffer, n: NativeProbeResult): ProbeResult {
  return {
    cache: { dir: cache.toString(), ...n.cache },
    target: { dir: target.toString(), ...n.target },
    sameDevice: n.cache.device === n.target.device,
    source: n.source,
    cacheWritable: n.cacheWritable,
    cacheWriteError: n.cacheWriteError,
    atLinkLimit: n.atLinkLimit,
    methods: n.methods,
    auto: n.auto,
  }
}
