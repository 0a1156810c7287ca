/**
 * crate/src/engine/sources.rs for the JS backend: an existing `into` that is, or holds, a source
 * of the import (an entry's `src`, a store file) is refused before anything is written
 * (`ERR_CACHELINK_INTO_SOURCE`), with symlinks resolved: one `realpath` per distinct directory
 * of the sources, remembered across an install's packages (`known`). And packages.rs's order
 * for nested packages: an outer before the packages nested in it, put in place after them.
 * @module
 */
import { basename, dirname, sep } from 'node:path'
import type { NativeError } from '../native.js'
import { coded, shown } from './error.js'
import { bytesOf, op, type P, type Step } from './ops.js'

export const HOLDS_SOURCE = 'cannot import into a directory that is or holds a source of the import'

/** A source's file and the entry it is for (`rel` as the entry shows it). */
export interface Source {
  src: P
  rel: string
}

/** Real directories by path (latin1 byte strings); null: not resolvable. */
export type Known = Map<string, string | null>

const text = (p: P) => bytesOf(p).toString('latin1')

/** `dir` is `top` or below it (byte strings of real paths). */
export function within(dir: string, top: string): boolean {
  return dir === top || dir.startsWith(top.endsWith(sep) ? top : top + sep)
}

/** Refuses `into` (which exists) when it is, or holds, one of `sources`. */
export function* refuseIntoSources(sources: Iterable<Source>, into: P, known: Known): Step<void> {
  let intoReal: string
  try {
    intoReal = text(yield* op('realpath', into))
  } catch {
    return // gone meanwhile, or unreadable: opening the destination says why
  }
  const intoParent = dirname(intoReal)
  const intoName = basename(intoReal)
  let previous: string | null = null
  let real: string | null = null
  for (const { src, rel } of sources) {
    const path = text(src)
    const parent = dirname(path)
    if (parent !== previous) {
      previous = parent
      if (known.has(parent)) real = known.get(parent)!
      else {
        try {
          real = text(yield* op('realpath', Buffer.from(parent, 'latin1')))
        } catch {
          real = null
        }
        known.set(parent, real)
      }
    }
    if (real === null) continue
    if (within(real, intoReal) || (real === intoParent && basename(path) === intoName)) {
      const err = coded('ERR_CACHELINK_INTO_SOURCE', 'import', src, into)
      err.detail = HOLDS_SOURCE
      err.entry = rel
      throw err
    }
  }
}

/**
 * The order an install imports its packages in (`pre`: each outer before the packages nested
 * in it, the others as given) and puts them in place in (`post`: nested ones first).
 */
export function nestedOrder(outers: Array<number | null | undefined>): { pre: number[]; post: number[] } {
  const inner = new Map<number, number[]>()
  outers.forEach((o, i) => {
    if (o !== null && o !== undefined) inner.set(o, [...(inner.get(o) ?? []), i])
  })
  const pre: number[] = []
  const post: number[] = []
  const visit = (i: number) => {
    pre.push(i)
    for (const n of inner.get(i) ?? []) visit(n)
    post.push(i)
  }
  outers.forEach((o, i) => {
    if (o === null || o === undefined) visit(i)
  })
  return { pre, post }
}

/** A nested package's error with paths in its outer's stage shown where they are going. */
export function unstageNested(e: unknown, root: P, into: P): unknown {
  if (e instanceof Error) {
    const n = e as NativeError
    const [from, to] = [shown(root), shown(into)]
    const fix = (p: string | undefined) => (p?.startsWith(from) ? to + p.slice(from.length) : p)
    if (typeof n.path === 'string') n.path = fix(n.path)!
    if (typeof n.dest === 'string') n.dest = fix(n.dest)
  }
  return e
}
