// Checks that a tree is complete and identical to the corpus before a run is counted:
// exactly the expected regular files and folders (nothing missing, nothing extra, no symlinks), each with its
// entry's size and exec bit; for hardlink the store entry's inode (empty files excepted: an importer
// may create them empty instead of linking them); for clone and copy another inode, and the bytes of a
// sample (every 41st file and the 3 largest) equal to the entry's. In the reset row (hot store entries
// at the link limit) a file of a hot entry may be on any inode whose bytes equal the entry's: the
// entry's own (linked), a copy of its own (pnpm on EMLINK), the new inode of a reset (cachelink's
// reset replaces the entry with a copy of itself and links that).
import fs from 'node:fs'

/**
 * Returns verify(method, counts) for trees of this plan: a list of problems, empty when the tree is right
 * (at most `max` listed). The store entries are stat'ed once, here. `hot`: a Map of store path to the
 * inode number the entry has before each run (the reset row); the tree's files of those entries are
 * counted in counts: hotFiles, hotLinked (on that inode) and hotCopies (the other inodes they are on,
 * each a copy made during the run: one per file for pnpm, one per reset for cachelink).
 */
export function makeVerifier (plan, { max = 10, hot = null } = {}) {
  const expected = new Map()
  const expectedDirs = new Set(plan.dirs)
  const storeStats = new Map()
  for (const pkg of plan.pkgs) {
    for (const f of pkg.files) {
      expected.set(f.dest, f)
      if (!storeStats.has(f.src)) storeStats.set(f.src, fs.statSync(f.src))
    }
  }
  const all = [...expected.values()]
  const sample = all.filter((_, i) => i % 41 === 0).concat([...all].sort((a, b) => b.size - a.size).slice(0, 3))

  return (method, counts = {}) => {
    Object.assign(counts, { hotFiles: 0, hotLinked: 0, hotCopies: 0 })
    const copies = new Set()
    const problems = []
    let overflow = 0
    const problem = (msg) => { if (problems.length < max) problems.push(msg); else overflow++ }
    let seen = 0
    const walk = (dir) => {
      let entries
      try { entries = fs.readdirSync(dir, { withFileTypes: true }) } catch (e) { problem(`${dir}: ${e.code}`); return }
      for (const d of entries) {
        const p = `${dir}/${d.name}`
        if (d.isDirectory()) {
          if (!expectedDirs.has(p)) problem(`extra directory: ${p}`) // e.g. a staging folder left behind
          walk(p)
          continue
        }
        const f = expected.get(p)
        if (!f) { problem(`extra ${d.isFile() ? 'file' : 'non-file'}: ${p}`); continue }
        if (!d.isFile()) { problem(`not a regular file: ${p}`); continue }
        seen++
        const st = fs.lstatSync(p)
        const store = storeStats.get(f.src)
        if (st.size !== f.size) problem(`size ${st.size} != ${f.size}: ${p}`)
        if (((st.mode & 0o111) !== 0) !== f.executable) problem(`mode ${(st.mode & 0o777).toString(8)} but executable=${f.executable}: ${p}`)
        const sameInode = st.ino === store.ino && st.dev === store.dev
        if (hot?.has(f.src)) {
          counts.hotFiles++
          if (st.ino === hot.get(f.src)) counts.hotLinked++
          else if (!copies.has(st.ino)) {
            copies.add(st.ino)
            if (!sameBytes(p, f.src)) problem(`bytes differ: ${p}`)
          }
          continue
        }
        if (method === 'hardlink' && !sameInode && f.size !== 0) problem(`not a hard link of its store entry: ${p}`)
        if (method !== 'hardlink' && sameInode) problem(`a hard link, not a ${method}: ${p}`)
      }
    }
    walk(plan.tree)
    if (seen !== expected.size) {
      for (const p of expected.keys()) if (!fs.existsSync(p)) problem(`missing: ${p}`)
    }
    if (method !== 'hardlink' && problems.length === 0) {
      for (const f of sample) if (!sameBytes(f.dest, f.src)) problem(`bytes differ: ${f.dest}`)
    }
    counts.hotCopies = copies.size
    if (overflow) problems.push(`... and ${overflow} more`)
    return problems
  }
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

const CHUNK = 1 << 20
const bufA = Buffer.allocUnsafe(CHUNK)
const bufB = Buffer.allocUnsafe(CHUNK)
function sameBytes (a, b) {
  const fa = fs.openSync(a, 'r')
  const fb = fs.openSync(b, 'r')
  try {
    for (;;) {
      const na = fs.readSync(fa, bufA, 0, CHUNK, null)
      const nb = fs.readSync(fb, bufB, 0, CHUNK, null)
      if (na !== nb || bufA.compare(bufB, 0, nb, 0, na) !== 0) return false
      if (na === 0) return true
    }
  } finally {
    fs.closeSync(fa)
    fs.closeSync(fb)
  }
}
