import { execSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { clearFallbackMemo, linkFile, linkFileSync } from '../ts/index.js'
import { expectFsError, catchSync, mount, type Mounted, skipWithout } from './helpers.js'

beforeEach(() => clearFallbackMemo())

const MiB = 1024 * 1024

/** Free bytes on the filesystem of `dir`. */
function free(dir: string): number {
  const s = fs.statfsSync(dir)
  return s.bfree * s.bsize
}

for (const kind of ['btrfs', 'xfs'] as const) {
  describe.skipIf(skipWithout(kind))(`clone on ${kind}`, () => {
    let fsys: Mounted
    beforeAll(() => {
      fsys = mount(kind)
    })
    afterAll(() => fsys?.unmount())

    it('clones: method clone, exec bit kept, no data copied, writes stay private', async () => {
      const src = join(fsys.dir, 'tool')
      const data = Buffer.alloc(24 * MiB)
      for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i)
      fs.writeFileSync(src, data, { mode: 0o755 })
      execSync('sync')
      const before = free(fsys.dir)
      const dest = join(fsys.dir, 'tool-clone')
      const r = await linkFile(src, dest, { method: 'clone' })
      execSync('sync')
      expect(r).toMatchObject({ method: 'clone', fallbacks: [] })
      expect(before - free(fsys.dir)).toBeLessThan(4 * MiB) // a copy would take 24 MiB
      expect(fs.statSync(dest).mode & 0o777).toBe(0o755)
      expect(fs.statSync(dest).ino).not.toBe(fs.statSync(src).ino)
      const fd = fs.openSync(dest, 'r+')
      fs.writeSync(fd, Buffer.from('changed'), 0, 7, 0)
      fs.closeSync(fd)
      expect(fs.readFileSync(src).equals(data)).toBe(true)
      expect(fs.readFileSync(dest).subarray(0, 7).toString()).toBe('changed')
    })

    it('auto prefers a hard link on Linux, even where clones work', () => {
      const src = join(fsys.dir, 'small')
      fs.writeFileSync(src, 'x')
      expect(linkFileSync(src, join(fsys.dir, 'small-2')).method).toBe('hardlink')
    })

    it('an existing destination is never overwritten by a clone', () => {
      const src = join(fsys.dir, 'a')
      fs.writeFileSync(src, 'source')
      fs.writeFileSync(join(fsys.dir, 'b'), 'mine')
      expectFsError(catchSync(() => linkFileSync(src, join(fsys.dir, 'b'), { method: 'clone' })), 'EEXIST', {
        syscall: 'clone',
      })
      expect(fs.readFileSync(join(fsys.dir, 'b'), 'utf8')).toBe('mine')
    })
  })
}


