// Checks that a tree is complete and identical to the corpus before a run is counted:
// exactly the expected regular files (nothing missing, nothing extra, no symlinks), each with its
// entry's size and exec bit; for hardlink the store entry's inode (empty files excepted: an importer
// may create them empty instead of linking them); for clone and copy another inode, and the bytes of a
// sample (every 41st file and the 5 largest) equal to the entry's.
import fs from 'node:fs'
import path from 'node:path'

/** stat of every store file of the plan, by absolute path: taken once per filesystem. */
export function statStore (plan) {
  const out = new Map()
  for (const pkg of plan.pkgs) {
    for (const f of pkg.files) if (!out.has(f.src)) out.set(f.src, fs.statSync(f.src, { bigint: true }))
  }
  return out
}

/** Returns a list of problems (empty when the tree is right); at most `max` are listed. */
export function verifyTree (plan, storeStats, method, max = 10) {
  const problems = []
  const problem = (msg) => { if (problems.length < max) problems.push(msg); else problems.overflow = (problems.overflow ?? 0) + 1 }
  const expected = new Map()
  for (const pkg of plan.pkgs) for (const f of pkg.files) expected.set(f.dest, f)

  const seen = new Set()
  const walk = (dir) => {
    let entries
    try { entries = fs.readdirSync(dir, { withFileTypes: true }) } catch (e) { problem(`${dir}: ${e.code}`); return }
    for (const d of entries) {
      const p = path.join(dir, d.name)
      if (d.isDirectory()) { walk(p); continue }
      const f = expected.get(p)
      if (!f) { problem(`extra ${d.isFile() ? 'file' : 'non-file'}: ${p}`); continue }
      if (!d.isFile()) { problem(`not a regular file: ${p}`); continue }
      seen.add(p)
      const st = fs.lstatSync(p, { bigint: true })
      const store = storeStats.get(f.src)
      if (Number(st.size) !== f.size) problem(`size ${st.size} != ${f.size}: ${p}`)
      if (((st.mode & 0o111n) !== 0n) !== f.executable) problem(`exec bit ${(st.mode & 0o777n).toString(8)} but executable=${f.executable}: ${p}`)
      const sameInode = st.ino === store.ino && st.dev === store.dev
      if (method === 'hardlink' && !sameInode && f.size !== 0) problem(`not a hard link of its store entry: ${p}`)
      if (method !== 'hardlink' && sameInode) problem(`a hard link, not a ${method}: ${p}`)
    }
  }
  walk(plan.tree)
  for (const p of expected.keys()) if (!seen.has(p)) problem(`missing: ${p}`)

  if (method !== 'hardlink' && problems.length === 0) {
    const all = [...expected.values()]
    const sample = all.filter((_, i) => i % 41 === 0)
    sample.push(...[...all].sort((a, b) => b.size - a.size).slice(0, 5))
    for (const f of sample) {
      if (!fs.readFileSync(f.dest).equals(fs.readFileSync(f.src))) problem(`bytes differ: ${f.dest}`)
    }
  }
  if (problems.overflow) problems.push(`... and ${problems.overflow} more`)
  return problems
}

/**
 * For clone: is the largest file of the tree sharing its extents with the store entry? (FIEMAP via
 * filefrag, "shared" flag.) Returns null when it is, else a problem.
 */
export function checkShared (plan, sh) {
  let big = null
  for (const pkg of plan.pkgs) for (const f of pkg.files) if (!big || f.size > big.size) big = f
  const r = sh('filefrag', ['-v', big.dest], { allowFail: true })
  if (r.status !== 0) return `filefrag failed on ${big.dest}: ${r.stderr.trim()}`
  return /\bshared\b/.test(r.stdout) ? null : `largest file has no shared extents (not a clone?): ${big.dest}`
}
