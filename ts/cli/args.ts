// Option values: parsed and checked once here, so a bad value is a usage error (exit 2) with
// one clear line, before anything is touched.
import { type Command, InvalidArgumentError, Option } from 'commander'
import type { LinkOptions, MethodName } from '../options.js'
import { didYouMean } from '../suggest.js'

export function integer(min: number, what = 'an integer') {
  return (value: string): number => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected ${what} >= ${min}, got '${value}'.`)
    }
    return n
  }
}

export function fraction(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !(n > 0 && n <= 1)) {
    throw new InvalidArgumentError(`expected a fraction of the link limit above 0 and at most 1 (0.9), got '${value}'.`)
  }
  return n
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }

/** "90s", "30m", "1h", "2d", "500ms", or "0". */
export function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|min|h|d)?$/.exec(value.trim())
  if (!m || (m[2] === undefined && Number(m[1]) !== 0)) {
    throw new InvalidArgumentError(`expected a duration such as 90s, 30m, 1h, 2d or 0, got '${value}'.`)
  }
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms'])
}

/** --json and --quiet, which every command takes. */
export function withOutputOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print the result as one JSON document on stdout (no progress)')
    .option('-q, --quiet', 'print nothing but errors')
}

/** The options of `linkFile`, for the commands that materialize files. */
export function withLinkOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--method <method>',
        'how to materialize files: auto, clone (or reflink), hardlink, copy, symlink, or an order to try them in, such as clone,hardlink,copy',
      )
        .argParser(methodArg)
        .default('auto'),
    )
    .option('--no-fallback', 'fail instead of falling back to the next method')
    .option('--max-links <n>', 'treat entries with this many links as at the limit (177 for AWS EFS)', integer(2))
    .addOption(
      new Option('--on-link-limit <what>', 'at the link limit: reset the entry, copy, or fail')
        .choices(['reset', 'copy', 'error'])
        .default('reset'),
    )
    .addOption(
      new Option('--if-exists <what>', 'when a destination exists').choices(['error', 'replace', 'keep']).default('error'),
    )
}

const METHOD_NAMES: MethodName[] = ['clone', 'reflink', 'hardlink', 'copy', 'symlink']

/** `--method`: `auto`, one method, or a comma-separated list of them (none twice). */
export function methodArg(value: string): LinkFlags['method'] {
  if (value === 'auto') return 'auto'
  const list = value.split(',').map((m) => m.trim())
  const seen = new Set<string>()
  for (const m of list) {
    if (!(METHOD_NAMES as string[]).includes(m)) {
      // The library's "did you mean" (ts/suggest.ts: commander's rules, which its own unknown
      // flags and commands use).
      const hint = didYouMean(m, ['auto', ...METHOD_NAMES])
      throw new InvalidArgumentError(`expected auto, ${METHOD_NAMES.join(', ')} or a comma-separated list of them, got '${m}'${hint}.`)
    }
    const canonical = m === 'reflink' ? 'clone' : m
    if (seen.has(canonical)) throw new InvalidArgumentError(`'${canonical}' is named twice.`)
    seen.add(canonical)
  }
  return list.length === 1 ? (list[0] as MethodName) : (list as MethodName[])
}

export interface LinkFlags {
  method: 'auto' | MethodName | MethodName[]
  fallback: boolean
  maxLinks?: number
  onLinkLimit: 'reset' | 'copy' | 'error'
  ifExists: 'error' | 'replace' | 'keep'
}

export function linkOptions(o: LinkFlags): LinkOptions {
  return {
    method: o.method,
    fallback: o.fallback,
    maxLinks: o.maxLinks,
    onLinkLimit: o.onLinkLimit,
    ifExists: o.ifExists,
  }
}

/** Examples under a command's help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`)
}
