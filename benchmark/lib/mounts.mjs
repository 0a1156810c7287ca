// Filesystems for the benchmark: tmpfs, and ext4, btrfs, xfs on loop-mounted image files.
// Everything lives under <benchDir>/mnt and <benchDir>/img; cleanupAll() unmounts and removes all of it,
// including what a killed earlier run left behind.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const MKFS = {
  // Initialize inode tables and journal now, not in a background thread during the runs.
  ext4: (img) => ['mkfs.ext4', '-q', '-F', '-i', '8192', '-E', 'lazy_itable_init=0,lazy_journal_init=0', img],
  btrfs: (img) => ['mkfs.btrfs', '-q', '-f', img],
  xfs: (img) => ['mkfs.xfs', '-q', '-f', '-m', 'reflink=1', img]
}
export const FILESYSTEMS = ['tmpfs', 'ext4', 'btrfs', 'xfs']

export function sh (cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts })
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').trim()}`)
  }
  return r
}

/** Mounts a fresh filesystem of `bytes` and returns { name, mnt, img, options }. */
export function mountFs (benchDir, name, bytes) {
  const mnt = path.join(benchDir, 'mnt', name)
  fs.mkdirSync(mnt, { recursive: true })
  let img = null
  let mkfs = null
  if (name === 'tmpfs') {
    sh('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', mnt])
  } else {
    if (!MKFS[name]) throw new Error(`unknown filesystem ${name}`)
    img = path.join(benchDir, 'img', `${name}.img`)
    fs.mkdirSync(path.dirname(img), { recursive: true })
    fs.rmSync(img, { force: true })
    fs.writeFileSync(img, '')
    fs.truncateSync(img, bytes)
    const [cmd, ...args] = MKFS[name](img)
    sh(cmd, args)
    mkfs = [cmd, ...args.slice(0, -1)].join(' ')
    sh('mount', ['-o', 'loop', img, mnt])
  }
  return { name, mnt, img, mkfs, options: mountOptions(mnt) }
}

/** The line of /proc/mounts for mnt: "type options". */
export function mountOptions (mnt) {
  const line = fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mnt)
  if (!line) return '?'
  const [, , type, opts] = line.split(' ')
  return `${type} ${opts}`
}

export function unmountFs (m) {
  if (sh('umount', [m.mnt], { allowFail: true }).status !== 0) sh('umount', ['-l', m.mnt], { allowFail: true })
  if (m.img) fs.rmSync(m.img, { force: true })
}

/** Unmounts everything under <benchDir>/mnt (deepest first) and removes the images. Never throws. */
export function cleanupAll (benchDir) {
  const root = path.join(benchDir, 'mnt') + '/'
  const mounted = () => fs.readFileSync('/proc/mounts', 'utf8').split('\n')
    .map((l) => l.split(' ')[1]).filter((p) => p && p.startsWith(root))
    .sort((a, b) => b.length - a.length)
  try { for (const mnt of mounted()) unmountFs({ mnt }) } catch {}
  let stillMounted = true
  try { stillMounted = mounted().length > 0 } catch {}
  for (const d of stillMounted ? ['img', 'work'] : ['img', 'mnt', 'work']) {
    try { fs.rmSync(path.join(benchDir, d), { recursive: true, force: true }) } catch {}
  }
}

/** Bytes a filesystem needs: the store, a copied tree and a linked reference tree, with room for metadata. */
export function sizeFor (stats) {
  const perFile = 4096
  const need = stats.storeBytes + stats.bytes + (stats.uniqueContents + 2 * stats.files) * perFile
  return Math.ceil((need * 1.5 + 512 * 2 ** 20) / 2 ** 20) * 2 ** 20
}
