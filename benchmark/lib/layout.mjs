// The tree every implementation builds, pnpm's virtual store layout:
//   <tree>/node_modules/.pnpm/<name with / as +>@<version>/node_modules/<name>/<path>
import fs from 'node:fs'
import path from 'node:path'

export const loadIndex = (indexPath) => JSON.parse(fs.readFileSync(indexPath, 'utf8'))

export function pkgDir (tree, pkg) {
  return path.join(tree, 'node_modules', '.pnpm', `${pkg.name.replace('/', '+')}@${pkg.version}`, 'node_modules', pkg.name)
}

/**
 * Absolute paths for one tree: per package its folder, its files ({ rel, src, dest, executable, size })
 * and the folders its files need (shortest first); `dirs` is every folder of the tree, parents first.
 */
export function planTree (index, storeRoot, tree) {
  tree = path.resolve(tree)
  storeRoot = path.resolve(storeRoot)
  const dirs = new Set([tree])
  const addDir = (d) => {
    if (dirs.has(d)) return
    addDir(path.dirname(d))
    dirs.add(d)
  }
  // Plain concatenation (index paths are normalized and '/'-separated): path.join costs ~100 ms here.
  const parent = (p) => p.slice(0, p.lastIndexOf('/'))
  const pkgs = index.map((pkg) => {
    const dir = pkgDir(tree, pkg)
    const pkgDirs = new Set([dir])
    const files = Object.entries(pkg.files).map(([rel, f]) => {
      const dest = `${dir}/${rel}`
      pkgDirs.add(parent(dest))
      return { rel, src: `${storeRoot}/${f.src}`, dest, executable: f.executable, size: f.size }
    })
    const sorted = [...pkgDirs].sort((a, b) => a.length - b.length)
    for (const d of sorted) addDir(d)
    return { name: pkg.name, version: pkg.version, dir, dirs: sorted, files }
  })
  return { tree, pkgs, dirs: [...dirs], files: pkgs.reduce((n, p) => n + p.files.length, 0) }
}
