import { readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { pnpmStoreEntries } from '../pnpm-store.js'
import { type VerifyEntry, type VerifyMismatch, type VerifyResult, verifyEntries } from '../verify.js'
import { EXIT } from './run.js'
import { bytes, count, duration, type Output } from './output.js'

export interface VerifyFlags {
  repairFrom?: string
  repair: boolean
}

interface Source {
  kind: 'pnpm' | 'list'
  /** The store's version directory, or the list file. */
  dir: string
  entries: Array<VerifyEntry & { uses?: string[] }>
  packages?: number
  badIndexes?: Array<{ path: string; message: string }>
}

function badList(file: string, why: string): Error {
  return Object.assign(new Error(`${file}: ${why}`), { code: 'ERR_CACHELINK_BAD_INDEX', path: file })
}

/**
 * A JSON list of `{ path, integrity, good? }`; relative paths are relative to the file. With
 * `--repair-from`, an entry without `good` under the list's directory gets the file at the same
 * place under that directory.
 */
function readList(file: string, repairFrom: string | undefined): Source {
  let data: unknown
  try {
    data = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e
    throw badList(file, `not JSON: ${(e as Error).message}`)
  }
  if (!Array.isArray(data)) throw badList(file, 'not an array of { path, integrity, good? }')
  const base = dirname(file)
  const at = (p: unknown) => (typeof p === 'string' && !isAbsolute(p) ? resolve(base, p) : p)
  const entries = data.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null) throw badList(file, `entry ${i} is not an object`)
    const { path, integrity, good } = e as Record<string, unknown>
    const p = at(path) as string
    const under = typeof p === 'string' ? relative(base, p) : '..'
    const fromDir = repairFrom && !under.startsWith('..') && !isAbsolute(under) ? join(repairFrom, under) : undefined
    return { path: p, integrity, good: good === undefined ? fromDir : at(good) } as VerifyEntry
  })
  return { kind: 'list', dir: file, entries }
}

export async function verifyCommand(target: string, flags: VerifyFlags, out: Output, signal: AbortSignal): Promise<number> {
  const source: Source = statSync(target).isDirectory()
    ? { kind: 'pnpm', ...(await pnpmStoreEntries(target, { repairFrom: flags.repairFrom })) }
    : readList(target, flags.repairFrom)
  const bar = out.progress('verify', 'files', source.entries.length)
  let r: VerifyResult
  try {
    r = await verifyEntries(source.entries, { repair: flags.repair, signal, onProgress: (p) => bar.update(p.done, p.total) })
  } finally {
    bar.stop()
  }
  const remaining = r.mismatches.filter((m) => !m.repair?.done).length
  const byPath = new Map(source.entries.map((e) => [e.path, e.uses]))
  const uses = (m: { path: string | Buffer }) => byPath.get(m.path)
  const json = {
    source: source.kind,
    dir: source.dir,
    packages: source.packages,
    badIndexes: source.badIndexes,
    files: r.files,
    ok: r.ok,
    bytesHashed: r.bytesHashed,
    repaired: r.repaired,
    remaining,
    mismatches: r.mismatches.map((m) => ({
      ...m,
      uses: uses(m),
      repair: m.repair && { ...m.repair, error: m.repair.error && errorJson(m.repair.error) },
    })),
    unreadable: r.unreadable.map((u) => ({ path: u.path, error: errorJson(u.error) })),
    elapsedMs: r.elapsedMs,
  }
  out.result(json, () => verifyText(source, r, remaining, uses))
  return remaining > 0 || r.unreadable.length > 0 ? EXIT.failed : EXIT.ok
}

function errorJson(e: NodeJS.ErrnoException) {
  return { code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message }
}

function verifyText(
  source: Source,
  r: VerifyResult,
  remaining: number,
  uses: (m: { path: string | Buffer }) => string[] | undefined,
): string[] {
  const what = source.kind === 'pnpm' ? `pnpm store, ${count(source.packages ?? 0)} packages` : 'list'
  const lines = [
    `${source.dir}: ${what}`,
    `  checked ${count(r.files)} files (${bytes(r.bytesHashed)} hashed) in ${duration(r.elapsedMs)}: ` +
      `${count(r.ok)} ok, ${count(r.mismatches.length)} mismatched, ${count(r.unreadable.length)} unreadable`,
  ]
  for (const b of source.badIndexes ?? []) lines.push(`  index not read: ${b.path}: ${b.message}`)
  for (const m of r.mismatches) lines.push(...mismatchText(m, uses(m)))
  for (const u of r.unreadable) lines.push(`  unreadable  ${String(u.path)}`, `    ${u.error.message}`)
  if (r.repaired > 0) lines.push(`  repaired ${count(r.repaired)} in place (same inode: every project linking them sees the good bytes)`)
  if (remaining > 0) lines.push(`  ${count(remaining)} still wrong${r.mismatches.some((m) => !m.repair) ? ' (repair with --repair-from <a good copy of the store>)' : ''}`)
  return lines
}

function mismatchText(m: VerifyMismatch, uses: string[] | undefined): string[] {
  const lines = [`  mismatch  ${String(m.path)}  (${count(m.size)} bytes)`]
  if (uses?.length) lines.push(`    used by   ${uses.slice(0, 3).join(', ')}${uses.length > 3 ? `, and ${count(uses.length - 3)} more` : ''}`)
  lines.push(`    expected  ${m.expected}`, `    actual    ${m.actual}`)
  const rep = m.repair
  if (rep?.done) lines.push(`    repaired from ${String(rep.good)}`)
  else if (rep?.goodActual) lines.push(`    not repaired: the good copy ${String(rep.good)} is wrong too (${rep.goodActual}); nothing written`)
  else if (rep?.error) lines.push(`    not repaired: ${rep.error.message}`)
  return lines
}
