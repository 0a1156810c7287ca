// What the CLI prints, and where: results on stdout (text, or one JSON document with --json),
// progress and errors on stderr. A progress bar (cli-progress) only when stderr is a terminal;
// otherwise a plain line every few seconds; nothing with --quiet or --json.
import { SingleBar } from 'cli-progress'
import type { Leftover, LinkedFile, Unrecognized } from '../cache.js'
import type { ImportStats } from '../import.js'

export interface OutputOptions {
  json?: boolean
  quiet?: boolean
}

/** How often a plain progress line is written when stderr is not a terminal. */
const PLAIN_EVERY_MS = 2000

export class Output {
  readonly json: boolean
  readonly quiet: boolean
  readonly tty: boolean

  constructor(options: OutputOptions, stderr: NodeJS.WriteStream = process.stderr) {
    this.json = options.json ?? false
    this.quiet = options.quiet ?? false
    this.tty = stderr.isTTY === true && process.env.TERM !== 'dumb'
  }

  /** The result: JSON (`value`), or the text lines. */
  result(value: unknown, lines: () => string[]): void {
    if (this.json) {
      process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`)
    } else if (!this.quiet) {
      process.stdout.write(`${lines().join('\n')}\n`)
    }
  }

  /**
   * Progress of `label` over `total` items (0: not known yet, as in a walk; it may become known
   * through `update`). The bar appears at the first update. Call `stop` before printing
   * anything else.
   */
  progress(label: string, unit: string, total: number): Progress {
    return new Progress(this.json || this.quiet ? null : this.tty ? 'bar' : 'plain', label, unit, total)
  }
}

export class Progress {
  private readonly started = performance.now()
  private lastPlain = performance.now()
  private done = 0
  private bar: SingleBar | undefined

  constructor(
    private readonly mode: 'bar' | 'plain' | null,
    private readonly label: string,
    private readonly unit: string,
    private total: number,
  ) {}

  private payload() {
    const s = (performance.now() - this.started) / 1000
    return {
      done: count(this.done),
      all: count(this.total),
      rate: count(s > 0 ? Math.round(this.done / s) : 0),
      elapsed: `${s.toFixed(1)} s`,
      // From the average rate so far: steady for a batch of similar files.
      // (Not named eta: cli-progress fills {eta} itself.)
      left: this.done >= this.total ? '0 s' : this.done > 0 && s > 0 ? duration((1000 * s * (this.total - this.done)) / this.done) : '…',
    }
  }

  /** The bar, made when first needed: with a percentage and ETA when the total is known. */
  private makeBar(): SingleBar {
    const { label, unit } = this
    const bar = new SingleBar({
      format:
        this.total > 0
          ? `${label} [{bar}] {percentage}% | {done}/{all} ${unit} | {rate}/s | ETA {left}`
          : `${label} {done} ${unit} | {rate}/s | {elapsed}`,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      barsize: 30,
      hideCursor: true,
      // Not cli-progress's own SIGINT handler, which would keep the process running: the
      // command aborts its work on SIGINT, and `stop` runs on the way out.
      gracefulExit: false,
      fps: 10,
    })
    bar.start(Math.max(this.total, 1), this.done, this.payload())
    return bar
  }

  update(done: number, total = this.total): void {
    this.done = done
    this.total = total
    if (this.mode === 'plain') {
      const now = performance.now()
      if (now - this.lastPlain < PLAIN_EVERY_MS) return
      this.lastPlain = now
      const p = this.payload()
      const of = total > 0 ? `/${p.all} (${Math.floor((100 * done) / total)}%)` : ''
      process.stderr.write(`${this.label}: ${p.done}${of} ${this.unit}, ${p.rate}/s\n`)
    } else if (this.mode === 'bar' && (done > 0 || total > 0)) {
      this.bar ??= this.makeBar()
      if (total > 0 && total !== this.bar.getTotal()) this.bar.setTotal(total)
      this.bar.update(done, this.payload())
    }
  }

  /** Ends the bar on its final value, on a line of its own, and shows the cursor again. */
  stop(): void {
    if (!this.bar) return
    this.bar.update(this.done, this.payload())
    this.bar.stop()
  }
}

/** A leftover of interrupted work, as `scan` and `clean` list it: the pid, and its host unless it is this one. */
export function leftoverText(l: Leftover): string {
  const where = l.thisHost === false ? `host ${l.host}` : ''
  return `${l.kind.padEnd(5)}  pid ${String(l.pid).padEnd(7)} ${where.padEnd(17)} ${duration(l.ageMs).padStart(8)} old  ${l.path}`
}

/** A name like a leftover's that is not one, as `scan` and `clean` list it. */
export function unrecognizedText(u: Unrecognized): string {
  return `${u.reason.padEnd(18)}  ${u.path}`
}

/** A cache file and its link count, as `scan` and `reset` list it. */
export function linkedText(f: LinkedFile): string {
  return `${count(f.links).padStart(13)}  ${f.path}`
}

/** "hardlinked 1,800, copied 300": the methods files were placed with, those used at all. */
export function byMethod(s: Pick<ImportStats, 'hardlinked' | 'cloned' | 'copied' | 'symlinked'>): string {
  return (['hardlinked', 'cloned', 'copied', 'symlinked'] as const)
    .filter((k) => s[k] > 0)
    .map((k) => `${k} ${count(s[k])}`)
    .join(', ')
}

/** 1234567 -> "1,234,567" */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

/** Bytes for people: "12.3 MiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`
}

/** Milliseconds for people: "850 ms", "3.2 s", "4 min", "2.5 h". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`
  return `${(ms / 86_400_000).toFixed(1)} d`
}

/**
 * In JSON, a found path's `raw` bytes appear (base64) only when `path` is not exactly the name
 * on disk; a Buffer anywhere else is base64 too.
 */
function jsonReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  if (key === 'raw' && this.exact === true) return undefined
  if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
    const data = (value as { data?: number[] }).data ?? []
    return Buffer.from(data).toString('base64')
  }
  return value
}
