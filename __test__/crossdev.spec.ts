import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { clearFallbackMemo, importFiles, linkFile, linkFileSync } from '../ts/index.js'
import { catchSync, expectFsError, mount, type Mounted, skipWithout } from './helpers.js'

beforeEach(() => clearFallbackMemo())

describe.skipIf(skipWithout('ext4', 'tmpfs'))('two mounts (real EXDEV) and a filesystem without clones', () => {
  let ext4: Mounted
  let tmp: Mounted
  beforeAll(() => {
    ext4 = mount('ext4', 64)
    tmp = mount('tmpfs', 64)
  })
  afterAll(() => {
    ext4?.unmount()
    tmp?.unmount()
  })

  it('hardlink → EXDEV → clone → EXDEV → copy, then straight to copy for the next file', async () => {
    const src = join(tmp.dir, 'entry')
    fs.writeFileSync(src, 'cross', { mode: 0o640 })
    const first = await linkFile(src, join(ext4.dir, 'one'))
    expect(first.method).toBe('copy')
    expect(first.fallbacks).toEqual([
      { method: 'hardlink', code: 'EXDEV' },
      { method: 'clone', code: 'EXDEV' },
    ])
    expect(fs.readFileSync(join(ext4.dir, 'one'), 'utf8')).toBe('cross')
    expect(fs.statSync(join(ext4.dir, 'one')).mode & 0o777).toBe(0o640)
    // The memo skips them now, and still says so, with the codes it remembers.
    const second = linkFileSync(src, join(ext4.dir, 'two'))
    expect(second).toMatchObject({ method: 'copy', fallbacks: first.fallbacks })
    // Same-device pairs are remembered separately.
    expect(linkFileSync(src, join(tmp.dir, 'three')).method).toBe('hardlink')
  })

  it('NODE_DEBUG=cachelink logs each fallback with its paths', () => {
    const src = join(tmp.dir, 'debugged')
    fs.writeFileSync(src, 'd')
    const dest = join(ext4.dir, 'debugged')
    const dist = join(import.meta.dirname, '..', 'dist', 'index.js')
    const script = `import { linkFileSync } from ${JSON.stringify(dist)}; linkFileSync(process.argv[1], process.argv[2])`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, src, dest], {
      env: { ...process.env, NODE_DEBUG: 'cachelink' },
      encoding: 'utf8',
    })
    expect(r.status).toBe(0)
    expect(r.stderr).toContain(`fallback from hardlink (EXDEV): ${src} -> ${dest}`)
    expect(r.stderr).toContain(`fallback from clone (EXDEV): ${src} -> ${dest}`)
  })

  it('hardlink with fallback falls back to copy; strict mode throws EXDEV and writes nothing', () => {
    const src = join(tmp.dir, 'strict')
    fs.writeFileSync(src, 's')
    const dest = join(ext4.dir, 'strict')
    const err = catchSync(() => linkFileSync(src, dest, { method: 'hardlink', fallback: false }))
    expectFsError(err, 'EXDEV', { syscall: 'link', path: src, dest })
    expect((err as Error).message).toBe(`EXDEV: cross-device link not permitted, link '${src}' -> '${dest}'`)
    expect(fs.existsSync(dest)).toBe(false)
    expect(linkFileSync(src, dest, { method: 'hardlink' })).toMatchObject({
      method: 'copy',
      fallbacks: [{ method: 'hardlink', code: 'EXDEV' }],
    })
  })

  it('clone on ext4: falls back to copy, and strict mode throws ENOTSUP (EOPNOTSUPP)', () => {
    const src = join(ext4.dir, 'c')
    fs.writeFileSync(src, 'no reflink here')
    const dest = join(ext4.dir, 'c-strict')
    expectFsError(
      catchSync(() => linkFileSync(src, dest, { method: 'clone', fallback: false })),
      'ENOTSUP',
      { syscall: 'clone', path: src, dest },
    )
    expect(fs.existsSync(dest)).toBe(false)
    expect(linkFileSync(src, dest, { method: 'clone' })).toMatchObject({
      method: 'copy',
      fallbacks: [{ method: 'clone', code: 'ENOTSUP' }],
    })
  })

  it('a real error is never masked by a fallback: ENOSPC on the destination', () => {
    const small = mount('tmpfs', 1)
    try {
      const src = join(tmp.dir, 'big')
      fs.writeFileSync(src, Buffer.alloc(4 * 1024 * 1024, 1))
      const dest = join(small.dir, 'big')
      expectFsError(catchSync(() => linkFileSync(src, dest)), 'ENOSPC', { syscall: 'copyfile', path: src, dest })
      expect(fs.existsSync(dest)).toBe(false) // never partial
    } finally {
      small.unmount()
    }
  })
})

describe.skipIf(skipWithout('ext4'))('a bind mount: one filesystem, two mounts', () => {
  let ext4: Mounted
  let view: string
  beforeAll(() => {
    ext4 = mount('ext4', 64)
    fs.mkdirSync(join(ext4.dir, 'store'))
    fs.mkdirSync(join(ext4.dir, 'shared'))
    // The same directory of the same filesystem seen through a second mount: same st_dev,
    // and link(2) between the two mounts fails with a real EXDEV.
    view = join(ext4.dir, '..', 'view')
    fs.mkdirSync(view)
    execFileSync('mount', ['--bind', join(ext4.dir, 'shared'), view])
  })
  afterAll(() => {
    if (view) execFileSync('umount', [view])
    ext4?.unmount()
  })

  it('one EXDEV through the bind mount leaves links inside the filesystem hard links', async () => {
    const src = join(ext4.dir, 'store', 'entry')
    fs.writeFileSync(src, 'bind')
    expect(fs.statSync(view).dev).toBe(fs.statSync(src).dev)
    const across = linkFileSync(src, join(view, 'across'))
    // link(2) refuses two mounts (EXDEV); FICLONE only two superblocks, so ext4 says ENOTSUP.
    expect(across).toMatchObject({
      method: 'copy',
      fallbacks: [
        { method: 'hardlink', code: 'EXDEV' },
        { method: 'clone', code: 'ENOTSUP' },
      ],
    })
    // Inside the original mount (same st_dev): still hard links.
    const inside = linkFileSync(src, join(ext4.dir, 'inside'))
    expect(inside).toMatchObject({ method: 'hardlink', fallbacks: [] })
    expect(fs.statSync(join(ext4.dir, 'inside')).ino).toBe(fs.statSync(src).ino)
    expect(linkFileSync(src, join(ext4.dir, 'inside-named'), { method: 'hardlink' })).toMatchObject({
      method: 'hardlink',
      fallbacks: [],
    })
    // A batch into the same filesystem too, fast path and all.
    const entries = Array.from({ length: 300 }, (_, i) => ({ path: `p/${i}`, src, size: 4 }))
    const stats = await importFiles(entries, { into: join(ext4.dir, 'batch') })
    expect(stats).toMatchObject({ files: 300, hardlinked: 300, copied: 0, fallbacks: [] })
    expect(fs.statSync(join(ext4.dir, 'batch', 'p', '299')).ino).toBe(fs.statSync(src).ino)
    // The memo remembers the pair of mounts, and says what it skipped.
    expect(linkFileSync(src, join(view, 'across-2'))).toMatchObject({ method: 'copy', fallbacks: across.fallbacks })
  })

  it("method: 'hardlink' is always tried, never silently copied from what the memo knows", () => {
    const src = join(ext4.dir, 'store', 'named')
    fs.writeFileSync(src, 'named')
    expect(linkFileSync(src, join(view, 'n1'))).toMatchObject({ method: 'copy' })
    // The memo knows hard links fail between these two mounts: a named method is tried anyway,
    // and the fallback is reported.
    expect(linkFileSync(src, join(view, 'n2'), { method: 'hardlink' })).toMatchObject({
      method: 'copy',
      fallbacks: [{ method: 'hardlink', code: 'EXDEV' }],
    })
    const dest = join(view, 'n3')
    expectFsError(
      catchSync(() => linkFileSync(src, dest, { method: 'hardlink', fallback: false })),
      'EXDEV',
      { syscall: 'link', path: src, dest },
    )
    expect(fs.existsSync(dest)).toBe(false)
  })
})

describe.skipIf(skipWithout('exfat', 'tmpfs'))('exFAT through FUSE: no hard links, no symlinks', () => {
  let exfat: Mounted
  let tmp: Mounted
  beforeAll(() => {
    exfat = mount('exfat')
    tmp = mount('tmpfs', 16)
  })
  afterAll(() => {
    exfat?.unmount()
    tmp?.unmount()
  })

  it('auto falls back to copy on EPERM (link) and ENOTSUP (clone), and remembers it', () => {
    const src = join(exfat.dir, 'entry')
    fs.writeFileSync(src, 'fat')
    const first = linkFileSync(src, join(exfat.dir, 'one'))
    expect(first).toEqual({
      method: 'copy',
      reset: false,
      linkLimit: null,
      resetError: null,
      fallbacks: [
        { method: 'hardlink', code: 'EPERM' },
        { method: 'clone', code: 'ENOTSUP' },
      ],
      linkRefused: null,
      linkCounts: null,
      retries: 0,
    })
    expect(fs.readFileSync(join(exfat.dir, 'one'), 'utf8')).toBe('fat')
    expect(linkFileSync(src, join(exfat.dir, 'two'))).toMatchObject({ method: 'copy', fallbacks: first.fallbacks })
  })

  it("method: 'hardlink' with fallback: false throws the kernel's EPERM and writes nothing", () => {
    const src = join(exfat.dir, 'strict')
    fs.writeFileSync(src, 's')
    const dest = join(exfat.dir, 'strict-link')
    expectFsError(
      catchSync(() => linkFileSync(src, dest, { method: 'hardlink', fallback: false })),
      'EPERM',
      { syscall: 'link', path: src, dest },
    )
    expect(fs.existsSync(dest)).toBe(false)
    expect(linkFileSync(src, dest, { method: 'hardlink' })).toMatchObject({
      method: 'copy',
      fallbacks: [{ method: 'hardlink', code: 'EPERM' }],
    })
  })

  it("symlinks: ENOSYS from the FUSE driver; method: 'symlink' falls back to copy", () => {
    const src = join(tmp.dir, 'sym-src')
    fs.writeFileSync(src, 'sym')
    const dest = join(exfat.dir, 'sym')
    expectFsError(
      catchSync(() => linkFileSync(src, dest, { method: 'symlink', fallback: false })),
      'ENOSYS',
      { syscall: 'symlink', path: src, dest },
    )
    expect(fs.existsSync(dest)).toBe(false)
    expect(linkFileSync(src, dest, { method: 'symlink' })).toMatchObject({
      method: 'copy',
      fallbacks: [{ method: 'symlink', code: 'ENOSYS' }],
    })
    expect(fs.readFileSync(dest, 'utf8')).toBe('sym')
  })

  it('an import into exFAT copies every file', async () => {
    const store = join(exfat.dir, 'store')
    fs.mkdirSync(store)
    const entries = Array.from({ length: 40 }, (_, i) => {
      fs.writeFileSync(join(store, String(i)), `f${i}`)
      return { path: `lib/${i}.js`, src: join(store, String(i)), size: `f${i}`.length }
    })
    const stats = await importFiles(entries, { into: join(exfat.dir, 'app') })
    expect(stats).toMatchObject({ files: 40, copied: 40, hardlinked: 0 })
    expect(fs.readFileSync(join(exfat.dir, 'app', 'lib', '39.js'), 'utf8')).toBe('f39')
  })
})

describe.skipIf(skipWithout('ntfs'))('NTFS through ntfs-3g', () => {
  let ntfs: Mounted
  beforeAll(() => {
    ntfs = mount('ntfs')
  })
  afterAll(() => ntfs?.unmount())

  it('hard links work; clones do not (ENOTSUP), so clone falls back to copy', () => {
    const src = join(ntfs.dir, 'entry')
    fs.writeFileSync(src, 'ntfs')
    expect(linkFileSync(src, join(ntfs.dir, 'linked'))).toMatchObject({ method: 'hardlink', fallbacks: [] })
    expect(fs.statSync(join(ntfs.dir, 'linked')).ino).toBe(fs.statSync(src).ino)
    expect(fs.statSync(src).nlink).toBe(2)
    expect(linkFileSync(src, join(ntfs.dir, 'cloned'), { method: 'clone' })).toMatchObject({
      method: 'copy',
      fallbacks: [{ method: 'clone', code: 'ENOTSUP' }],
    })
  })

  it('a reset at maxLinks keeps the bytes (rename over an entry on ntfs-3g)', () => {
    const src = join(ntfs.dir, 'capped')
    fs.writeFileSync(src, 'capped')
    let resets = 0
    for (let i = 0; i < 7; i++) {
      const r = linkFileSync(src, join(ntfs.dir, `c${i}`), { maxLinks: 3 })
      expect(r.method).toBe('hardlink')
      if (r.reset) resets++
      expect(fs.statSync(src).nlink).toBeLessThanOrEqual(3)
    }
    expect(resets).toBe(3) // at c2, c4 and c6: two links per inode
    expect(fs.readFileSync(join(ntfs.dir, 'c6'), 'utf8')).toBe('capped')
  })
})
