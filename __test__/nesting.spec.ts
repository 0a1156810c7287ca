// Nested packages in one importPackages call (pnpm's hoisted layout: `x` and
// `x/node_modules/y`): the outer is placed, the inner inside it, every time and in either
// order given; the same `into` twice is refused before anything is written (issue 19, point 6).
// On real filesystems; the racy cases run in a loop so the old code fails reliably.
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importPackages, importPackagesSync, type PackageImport } from '../ts/index.js'
import { catchSync, leftovers, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

const RUNS = 20

/** A few source files for package `name` under `dir/src`, as importFiles entries. */
function files(dir: string, name: string): Record<string, string> {
  const src = join(dir, 'src', name)
  fs.mkdirSync(src, { recursive: true })
  const out: Record<string, string> = {}
  for (const rel of ['package.json', 'lib/index.js', 'lib/util.js']) {
    const p = join(src, rel.replace('/', '-'))
    fs.writeFileSync(p, `${name} ${rel}\n`)
    out[rel] = p
  }
  return out
}

/** Every package's files are in place with their bytes, nothing else of cachelink's is left. */
function expectPlaced(dir: string, packages: Array<{ into: string; name: string }>) {
  for (const p of packages) {
    for (const rel of ['package.json', 'lib/index.js', 'lib/util.js']) {
      expect(fs.readFileSync(join(p.into, rel), 'utf8')).toBe(`${p.name} ${rel}\n`)
    }
  }
  expect(leftovers(dir)).toEqual([])
}

for (const kind of ['tmpfs', 'ext4'] as const) {
  describe.skipIf(skipWithout(kind))(`nested packages in one install, on ${kind}`, () => {
    let fsys: Mounted
    beforeAll(() => {
      fsys = mount(kind)
    })
    afterAll(() => fsys?.unmount())

    /** Runs `layout` RUNS times in a fresh tree each; returns how many runs failed (and why). */
    async function loop(layout: (tree: string, dir: string) => Array<{ into: string; name: string }>, sync = false) {
      const failures: string[] = []
      for (let run = 0; run < RUNS; run++) {
        const dir = sandbox(fsys.dir)
        const pkgs = layout(join(dir, 'node_modules'), dir)
        const install: PackageImport[] = pkgs.map((p) => ({ into: p.into, files: files(dir, p.name) }))
        try {
          if (sync) importPackagesSync(install, { method: 'hardlink' })
          else await importPackages(install, { method: 'hardlink' })
          expectPlaced(dir, pkgs)
        } catch (e) {
          failures.push(String((e as Error).message))
        }
      }
      return failures
    }

    const outerFirst = (tree: string) => [
      { into: join(tree, 'x'), name: 'x' },
      { into: join(tree, 'x', 'node_modules', 'y'), name: 'y' },
    ]
    const innerFirst = (tree: string) => outerFirst(tree).reverse()

    it(`places the outer, then the inner into it, every time (${RUNS} runs, outer given first)`, async () => {
      expect(await loop(outerFirst)).toEqual([])
    })

    it(`places the outer, then the inner into it, every time (${RUNS} runs, inner given first)`, async () => {
      expect(await loop(innerFirst)).toEqual([])
    })

    it(`does the same in the sync twin, in both orders (${RUNS} runs each)`, async () => {
      expect(await loop(outerFirst, true)).toEqual([])
      expect(await loop(innerFirst, true)).toEqual([])
    })

    it('places several levels of nesting, beside unrelated packages, in any order given', async () => {
      const levels = (tree: string) => [
        { into: join(tree, 'x', 'node_modules', 'y', 'node_modules', 'z'), name: 'z' },
        { into: join(tree, 'other'), name: 'other' },
        { into: join(tree, 'x'), name: 'x' },
        { into: join(tree, 'x', 'node_modules', '@s', 'w'), name: 'w' },
        { into: join(tree, 'x', 'node_modules', 'y'), name: 'y' },
        { into: join(tree, 'x', 'node_modules', 'y', 'node_modules', 'z', 'node_modules', 'q'), name: 'q' },
      ]
      expect(await loop(levels)).toEqual([])
      expect(await loop((t) => levels(t).reverse())).toEqual([])
      // Given with ./ and trailing slashes: still nested.
      expect(await loop((t, dir) => levels(t).map((p) => ({ ...p, into: `${p.into.replace(dir, `${dir}/.`)}/` })))).toEqual([])
    })

    it('replaces a nested install over the previous one (onExisting: replace), in both orders', async () => {
      for (const order of [outerFirst, innerFirst]) {
        const dir = sandbox(fsys.dir)
        const tree = join(dir, 'node_modules')
        const pkgs = [...order(tree), { into: join(tree, 'x', 'node_modules', 'y', 'node_modules', 'z'), name: 'z' }]
        const install: PackageImport[] = pkgs.map((p) => ({ into: p.into, files: files(dir, p.name) }))
        await importPackages(install, {})
        // A stray file in the old tree: gone after the replace.
        fs.writeFileSync(join(tree, 'x', 'node_modules', 'y', 'stray'), 'old')
        for (let run = 0; run < 5; run++) {
          const stats = run % 2 === 0 ? await importPackages(install, { onExisting: 'replace' }) : importPackagesSync(install, { onExisting: 'replace' })
          expect(stats.packages).toBe(3)
          expectPlaced(dir, pkgs)
          expect(fs.existsSync(join(tree, 'x', 'node_modules', 'y', 'stray'))).toBe(false)
        }
      }
    })

    it('a failing inner package leaves nothing of the outer (all or nothing)', async () => {
      const dir = sandbox(fsys.dir)
      const tree = join(dir, 'node_modules')
      const x = files(dir, 'x')
      const before = snapshot(dir)
      for (const order of [0, 1]) {
        const install: PackageImport[] = [
          { into: join(tree, 'x'), files: x },
          { into: join(tree, 'x', 'node_modules', 'y'), files: { 'a.js': join(dir, 'missing') } },
        ]
        if (order === 1) install.reverse()
        const err = await importPackages(install).catch((e) => e)
        expect(err).toMatchObject({ code: 'ENOENT' })
        expect(snapshot(dir)).toEqual(before)
      }
    })

    it('refuses the same into twice, by any spelling, before anything is written', async () => {
      const dir = sandbox(fsys.dir)
      const x = files(dir, 'x')
      const into = join(dir, 'node_modules', 'x')
      const before = snapshot(dir)
      for (const [a, b] of [
        [into, into],
        [into, `${into}/`],
        [into, join(dir, 'node_modules', '.', 'x')],
        [into, join(dir, 'node_modules', 'y', '..', 'x')],
        [Buffer.from(into), into],
      ] as const) {
        const install: PackageImport[] = [
          { into: join(dir, 'node_modules', 'other'), files: x },
          { into: a, files: x },
          { into: b, files: x },
        ]
        const err = await importPackages(install).catch((e) => e)
        expect(err).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
        expect(err.message).toContain('packages[1].into')
        expect(err.message).toContain('packages[2].into')
        expect(snapshot(dir)).toEqual(before)
        expect(catchSync(() => importPackagesSync(install))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' })
        expect(snapshot(dir)).toEqual(before)
      }
    })
  })
}
