// The reset row (issue 7: one copy per link-limit crossing): hot store entries held at ext4's link
// limit before every run, so that every link of them fails with EMLINK. pnpm's importer ('hardlink')
// then copies each of their files; cachelink resets each entry once (copies it beside itself, links
// the copy, renames it over the entry) and links the rest.
//
// The extra links live in a side folder per hot entry, outside the store (<mnt>/hot/<n>/<i>), made
// once with links.c. Before each run restoreHot() puts the hot inode back at the store path (a
// cachelink reset replaced it with a new inode): link of side/<n>/0 to a temp, renamed over the entry.
import fs from 'node:fs'
import path from 'node:path'

export const EXT4_LINK_MAX = 65000

/** The `count` non-empty store files used by the most packages (then by the most files): [{ src, packages, files }]. */
export function pickHot (plan, count) {
  const uses = new Map()
  for (const pkg of plan.pkgs) {
    const seen = new Set()
    for (const f of pkg.files) {
      if (f.size === 0) continue // cachelink creates empty files, it does not link them
      let u = uses.get(f.src)
      if (!u) uses.set(f.src, (u = { src: f.src, packages: 0, files: 0 }))
      u.files++
      if (!seen.has(f.src)) { seen.add(f.src); u.packages++ }
    }
  }
  return [...uses.values()].sort((a, b) => b.packages - a.packages || b.files - a.files).slice(0, count)
}

/**
 * Brings every hot entry to `limit` links (side folders under sideRoot, made with the links binary);
 * returns the Map of store path to the hot inode number that restoreHot() keeps in place.
 */
export function setupHot (hot, sideRoot, linksBin, limit, sh) {
  const inodes = new Map()
  hot.forEach((h, n) => {
    const side = path.join(sideRoot, String(n))
    fs.mkdirSync(side, { recursive: true })
    const st = fs.statSync(h.src)
    h.side = side
    if (st.nlink < limit) sh(linksBin, [h.src, side, '0', String(limit - st.nlink)])
    const after = fs.statSync(h.src)
    if (after.nlink !== limit) throw new Error(`${h.src}: ${after.nlink} links, not ${limit}`)
    inodes.set(h.src, after.ino)
  })
  return inodes
}

/** Before a run: each hot entry's own inode at its store path again, with `limit` links. Returns the entries put back. */
export function restoreHot (hot, inodes, limit) {
  let restored = 0
  for (const h of hot) {
    if (fs.statSync(h.src).ino !== inodes.get(h.src)) {
      const tmp = `${h.src}.bench-restore`
      fs.linkSync(path.join(h.side, '0'), tmp)
      fs.renameSync(tmp, h.src) // the reset's inode goes (the tree that linked it is deleted)
      restored++
    }
    const st = fs.statSync(h.src)
    if (st.ino !== inodes.get(h.src) || st.nlink !== limit) throw new Error(`${h.src}: inode ${st.ino} with ${st.nlink} links after restoring, not ${inodes.get(h.src)} with ${limit}`)
  }
  return restored
}
