/**
 * Two atomic imports racing into the same new directory, on a real ext4: the first to finish
 * puts its tree in place, the other gets EEXIST naming the destination and leaves nothing.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importFiles, importFilesSync } from '../ts/index.js'
import { expectFsError, leftovers, mount, type Mounted, sandbox, skipWithout } from './helpers.js'

describe.skipIf(skipWithout('ext4'))('two atomic imports into one new directory', () => {
  let fsys: Mounted
  beforeAll(() => {
    fsys = mount('ext4')
  })
  afterAll(() => fsys?.unmount())

  /** `n` files under 20 directories, all with the bytes of `src`. */
  function entries(src: string, n: number) {
    return Array.from({ length: n }, (_, i) => ({ path: `d${i % 20}/f${i}`, src }))
  }

  function whose(into: string): string {
    const seen = new Set<string>()
    for (const d of fs.readdirSync(into)) for (const f of fs.readdirSync(join(into, d))) seen.add(fs.readFileSync(join(into, d, f), 'utf8'))
    return [...seen].join(',')
  }

  it('the one that finishes second gets EEXIST naming the destination, which holds the first one whole', async () => {
    const dir = sandbox(fsys.dir)
    fs.writeFileSync(join(dir, 'a'), 'A')
    fs.writeFileSync(join(dir, 'b'), 'B')
    const into = join(dir, 'pkgs', 'p')
    let raced = false
    // B runs to completion inside A's last progress report, after A staged everything and
    // before A renames its stage into place.
    const err = await importFiles(entries(join(dir, 'a'), 500), {
      into,
      method: 'copy',
      onProgress: ({ done, total }) => {
        if (done === total && !raced) {
          raced = true
          importFilesSync(entries(join(dir, 'b'), 400), { into, method: 'copy' })
        }
      },
    }).catch((e) => e)
    expect(raced).toBe(true)
    if (err?.code !== 'EEXIST') console.log(`loser got: ${err?.message ?? 'success'}`)
    expectFsError(err, 'EEXIST', { syscall: 'rename', path: into })
    expect(err.message).toBe(`EEXIST: file already exists, rename '${into}'`)
    expect(whose(into)).toBe('B')
    expect(fs.readdirSync(join(into, 'd0'))).toHaveLength(20)
    expect(leftovers(join(dir, 'pkgs'))).toEqual([])
  })

  it('run concurrently, one wins and the other gets EEXIST, never ENOTEMPTY; nothing is left', async () => {
    const dir = sandbox(fsys.dir)
    fs.writeFileSync(join(dir, 'a'), 'A')
    fs.writeFileSync(join(dir, 'b'), 'B')
    const codes: string[] = []
    for (let round = 0; round < 6; round++) {
      const into = join(dir, `pkgs${round}`, 'p')
      const [a, b] = await Promise.allSettled([
        importFiles(entries(join(dir, 'a'), 3000), { into, method: 'copy', threads: 1 }),
        importFiles(entries(join(dir, 'b'), 3000), { into, method: 'copy', threads: 1 }),
      ])
      const failed = [a, b].filter((r) => r.status === 'rejected')
      for (const f of failed) {
        const e = (f as PromiseRejectedResult).reason
        codes.push(`${e.code} (${e.syscall})`)
        if (e.syscall === 'rename') expect(e.path).toBe(into)
      }
      if (failed.length !== 1) console.log(`round ${round}: ${failed.map((f) => (f as PromiseRejectedResult).reason.message).join(' | ')}`)
      // Overlapping, exactly one fails; one started after the other finished merges into it
      // (ifExists 'error': EEXIST on its first file). Either way the tree is one import's, whole.
      expect(failed.length).toBe(1)
      const winner = a.status === 'fulfilled' ? 'A' : 'B'
      expect(whose(into)).toBe(winner)
      expect(fs.readdirSync(into)).toHaveLength(20)
      expect(leftovers(join(dir, `pkgs${round}`))).toEqual([])
      fs.rmSync(join(dir, `pkgs${round}`), { recursive: true }) // ext4 here has 20,000 inodes
    }
    console.log(`losers' codes: ${codes.join(', ')}`)
    expect(codes.every((c) => c.startsWith('EEXIST'))).toBe(true)
    // Most rounds overlap: the loser's stage was complete when it found the place taken.
    expect(codes.filter((c) => c === 'EEXIST (rename)').length).toBeGreaterThan(0)
  })
})
