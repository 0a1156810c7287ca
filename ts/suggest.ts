// "Did you mean": the one place that guesses what a misspelled name meant, for the API (unknown
// options and fields, refused by `checkKeys`), the pnpm hook (its options and CACHELINK_PNPM) and
// the CLI (`--method` values). The rules are commander's (`showSuggestionAfterError`, which the
// CLI's unknown flags and commands get from commander itself): optimal string alignment
// distance, at most 2 edits, more than 40% of the longer name the same, the closest ones only.
// Two additions for API names: case is ignored first (`Method`, `maxlinks`), and a name that
// starts a known one (`exec` for `executable`) is suggested when nothing is closer.
import { invalidArgValue } from './errors.js'

const MAX_DISTANCE = 3

/** Optimal string alignment distance (Damerau-Levenshtein, no substring edited twice). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > MAX_DISTANCE) return Math.max(a.length, b.length)
  const d: number[][] = []
  for (let i = 0; i <= a.length; i++) d[i] = [i]
  for (let j = 0; j <= b.length; j++) d[0][j] = j
  for (let j = 1; j <= b.length; j++) {
    for (let i = 1; i <= a.length; i++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The known names closest to `word`, sorted; empty when none is close enough. */
export function similar(word: string, candidates: Iterable<string>): string[] {
  const known = [...new Set(candidates)]
  const folded = known.filter((c) => c.toLowerCase() === word.toLowerCase())
  if (folded.length > 0) return folded.sort()
  let best: string[] = []
  let bestDistance = MAX_DISTANCE
  for (const candidate of known) {
    if (candidate.length <= 1) continue
    const distance = editDistance(word, candidate)
    const length = Math.max(word.length, candidate.length)
    if ((length - distance) / length <= 0.4) continue
    if (distance < bestDistance) {
      bestDistance = distance
      best = [candidate]
    } else if (distance === bestDistance) best.push(candidate)
  }
  const starts = (c: string) => c.toLowerCase().startsWith(word.toLowerCase())
  // Of equally close ones, those the word starts (`of`: `off` rather than `on`); with none close,
  // a known name the word starts (`exec`: `executable`).
  if (best.length > 1 && best.some(starts)) best = best.filter(starts)
  if (best.length === 0 && word.length >= 3) best = known.filter(starts)
  return best.sort((a, b) => a.localeCompare(b))
}

/** ` (did you mean 'x'?)`, ` (did you mean one of 'x', 'y'?)`, or `''`. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const found = similar(word, candidates).map((c) => `'${c}'`)
  if (found.length === 0) return ''
  return found.length === 1 ? ` (did you mean ${found[0]}?)` : ` (did you mean one of ${found.join(', ')}?)`
}

/** The names a function or an entry takes: `{ name: true, ... }`, one line per name. */
export type Known<K extends string = string> = Readonly<Record<K, true>>

/**
 * Refuses an own key of `value` that `known` does not list: ERR_INVALID_ARG_VALUE (a TypeError)
 * naming `<name>.<key>`, saying it is not `what` (`an option of importFiles`, `a field of a file
 * entry`) and what it may have meant. Before anything is written; a few property reads per call.
 * `elsewhere`: names that belong to another object (a package's `store`, which is an option of
 * `importPackages`), said so rather than guessed at.
 */
export function checkKeys(
  value: object,
  known: Known,
  name: string,
  what: string,
  caller: Function,
  elsewhere?: { known: Known; name: string },
): void {
  for (const key in value) {
    if (Object.hasOwn(known, key) || !Object.hasOwn(value, key)) continue
    throw unknownKey(value, key, known, name, what, caller, elsewhere)
  }
}

export function unknownKey(
  value: object,
  key: string,
  known: Known,
  name: string,
  what: string,
  caller: Function,
  elsewhere?: { known: Known; name: string },
): Error {
  const hint =
    elsewhere && Object.hasOwn(elsewhere.known, key) ? ` (it is ${elsewhere.name}.${key})` : didYouMean(key, Object.keys(known))
  const shown = (value as Record<string, unknown>)[key]
  return invalidArgValue(`${name}.${key}`, typeof shown === 'object' && shown !== null ? '[object]' : shown, `is not ${what}${hint}`, caller)
}

/**
 * `checkKeys` for a function's options argument: `known` is its table (`LINK_OPTIONS`,
 * `IMPORT_FILES_OPTIONS`, ...). A value that is not an object is left to the type checks.
 */
export function checkOptions(options: unknown, known: Known, fn: string, caller: Function): void {
  if (typeof options === 'object' && options !== null) checkKeys(options, known, 'options', `an option of ${fn}`, caller)
}
