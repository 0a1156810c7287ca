// The tree every implementation builds, pnpm's virtual store layout:
//   <tree>/node_modules/.pnpm/<name with / as +>@<version>/node_modules/<name>/<path>
// and the store it builds it from, pnpm 10's: <store>/files/<2 hex>/<126 hex>[-exec] (the hex sha512
// of the content; -exec when executable).
import fs from 'node:fs'
import path from 'node:path'

export const loadIndex = (indexPath) => JSON.parse(fs.readFileSync(indexPath, 'utf8'))

export function pkgDir (tree, pkg) {
  return path.join(tree, 'node_modules', '.pnpm', `${pkg.name.replace('/', '+')}@${pkg.version}`, 'node_modules', pkg.name)
}

/**
 * The corpus's index (corpus/index.json: files as { src: '<2 hex>/<126 hex>[-exec]', executable, size })
 * as pnpm 10 holds it: per package { name, version, files } where files is pnpm's package index map
 * { [relPath]: { integrity: 'sha512-<base64>', mode: 0o755 | 0o644, size } }.
 */
export function pnpmIndex (index) {
  return index.map((pkg) => {
    const files = {}
    for (const [rel, f] of Object.entries(pkg.files)) {
      const hex = f.src.slice(0, 2) + f.src.slice(3, 3 + 126)
      files[rel] = { integrity: 'sha512-' + Buffer.from(hex, 'hex').toString('base64'), mode: f.executable ? 0o755 : 0o644, size: f.size }
    }
    return { name: pkg.name, version: pkg.version, files }
  })
}

/**
 * A store file's path from its pnpm index entry, as pnpm's getFilePathByModeInCafs computes it
 * (with plain concatenation instead of path.join, and Buffer instead of ssri to decode the base64).
 */
export function storePath (storeDir, integrity, mode) {
  const hex = Buffer.from(integrity.slice(7), 'base64').toString('hex')
  return `${storeDir}/files/${hex.slice(0, 2)}/${hex.slice(2)}${mode & 0o111 ? '-exec' : ''}`
}

/**
 * Absolute paths for one tree, for the runner (the floor's lists, cp's reference tree, the verifier):
 * per package its folder, its files ({ rel, src, dest, executable, size }) and the folders its files
 * need (shortest first); `dirs` is every folder of the tree, parents first. `storeDir` is pnpm's store
 * dir (the files are under <storeDir>/files).
 */
export function planTree (index, storeDir, tree) {
  tree = path.resolve(tree)
  const filesRoot = path.join(path.resolve(storeDir), 'files')
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
      return { rel, src: `${filesRoot}/${f.src}`, dest, executable: f.executable, size: f.size }
    })
    const sorted = [...pkgDirs].sort((a, b) => a.length - b.length)
    for (const d of sorted) addDir(d)
    return { name: pkg.name, version: pkg.version, dir, dirs: sorted, files }
  })
  return { tree, pkgs, dirs: [...dirs], files: pkgs.reduce((n, p) => n + p.files.length, 0) }
}
