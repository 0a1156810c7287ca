import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, linkFile, linkFileSync } from '../ts/index.js'
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
    const second = linkFileSync(src, join(ext4.dir, 'two'))
    expect(second).toMatchObject({ method: 'copy', fallbacks: [] })
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
