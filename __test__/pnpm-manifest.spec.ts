// cachelink/pnpm reads a package's package.json from the store to tell whether it will be built
// (issue 19, point 8). A store entry that is a FIFO, a device or a symlink, or a huge file, must
// neither hang the install nor fill the memory: the hook refuses it with Node's fs error naming the
// store path, and writes nothing. On a real tmpfs, with a real FIFO and a real character device.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MANIFEST_MAX_BYTES, type PnpmImportOptions, withOptions } from '../ts/pnpm.js'
import { expectFsError, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

/** A store with index.js and, at `manifest`, whatever the test puts there as package.json. */
function storeWith(dir: string, make: (path: string) => void): { to: string; options: PnpmImportOptions; manifest: string } {
  const files = join(dir, 'store', 'v10', 'files', 'ab')
  fs.mkdirSync(files, { recursive: true })
  const manifest = join(files, 'cdef0123')
  make(manifest)
  fs.writeFileSync(join(files, 'index0123'), 'module.exports = 1\n')
  const filesMap = { 'package.json': manifest, 'index.js': join(files, 'index0123') }
  return { to: join(dir, 'node_modules', 'a'), options: { filesMap, force: false, resolvedFrom: 'store' }, manifest }
}

/** The hook's answer, or 'hung' when it has not settled after 3 s (a FIFO nobody writes). */
async function settled(p: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise((resolve) => {
    timer = setTimeout(() => resolve('hung'), 3000)
  })
  try {
    return await Promise.race([p.then((v) => ({ resolved: v }), (e) => e), hung])
  } finally {
    clearTimeout(timer)
  }
}

describe.skipIf(skipWithout('tmpfs'))('the pnpm hook reading package.json from the store, on tmpfs', () => {
  let fsys: Mounted
  const importPackage = () => withOptions().hooks.importPackage!
  beforeAll(() => {
    fsys = mount('tmpfs')
  })
  afterAll(() => fsys?.unmount())

  it('refuses a FIFO with EINVAL naming the store path, without hanging, and writes nothing', async () => {
    const dir = sandbox(fsys.dir)
    const { to, options, manifest } = storeWith(dir, (p) => execFileSync('mkfifo', [p]))
    const err = await settled(importPackage()(to, options))
    expectFsError(err, 'EINVAL', { syscall: 'open', path: manifest })
    expect(fs.existsSync(join(dir, 'node_modules'))).toBe(false)
  })

  it('refuses a character device (a /dev/zero made with mknod) with EINVAL naming the store path', async () => {
    const dir = sandbox(fsys.dir)
    const { to, options, manifest } = storeWith(dir, (p) => execFileSync('mknod', [p, 'c', '1', '5']))
    const err = await settled(importPackage()(to, options))
    expectFsError(err, 'EINVAL', { syscall: 'open', path: manifest })
    expect(fs.existsSync(join(dir, 'node_modules'))).toBe(false)
  })

  it('never follows a symlink in the store (one to /dev/zero): ELOOP naming the store path', async () => {
    const dir = sandbox(fsys.dir)
    const { to, options, manifest } = storeWith(dir, (p) => fs.symlinkSync('/dev/zero', p))
    const err = await settled(importPackage()(to, options))
    expectFsError(err, 'ELOOP', { syscall: 'open', path: manifest })
    expect(fs.existsSync(join(dir, 'node_modules'))).toBe(false)
  })

  it(`refuses a package.json over ${MANIFEST_MAX_BYTES} bytes with EFBIG, reading no more than that`, async () => {
    const dir = sandbox(fsys.dir)
    const { to, options, manifest } = storeWith(dir, (p) => {
      fs.writeFileSync(p, '{"name":"a"}')
      fs.truncateSync(p, MANIFEST_MAX_BYTES + 1)
    })
    const err = await settled(importPackage()(to, options))
    expectFsError(err, 'EFBIG', { syscall: 'read', path: manifest })
    expect(fs.existsSync(join(dir, 'node_modules'))).toBe(false)
  })

  it('reads a regular package.json as before: a package with an install script is copied, not linked', async () => {
    const dir = sandbox(fsys.dir)
    const { to, options, manifest } = storeWith(dir, (p) => fs.writeFileSync(p, '{"name":"a","scripts":{"install":"node x"}}'))
    expect(await importPackage()(to, options)).toBe('copy')
    expect(fs.statSync(join(to, 'package.json')).ino).not.toBe(fs.statSync(manifest).ino)
  })
})
