/**
 * Entry names (issue 11, points 8 and 9): what is refused is what is unsafe or invalid on the
 * destination's OS, nothing more; and `importTree` never copies a tree into itself.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { importFiles, importFilesSync, importTree, importTreeSync } from '../ts/index.js'
import { sandbox, snapshot } from './helpers.js'

const onWindows = process.platform === 'win32'

let dir: string
beforeEach(() => {
  dir = sandbox()
})
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(onWindows)('names that are legal on Linux and macOS', () => {
  it('a backslash is part of a name, not a separator: lib\\weird.js is one file in into', async () => {
    fs.writeFileSync(join(dir, 'src'), 'weird')
    const into = join(dir, 'out')
    const stats = await importFiles([{ path: 'lib\\weird.js', src: join(dir, 'src') }], { into })
    expect(stats.files).toBe(1)
    expect(fs.readdirSync(into)).toEqual(['lib\\weird.js'])
    expect(fs.readFileSync(join(into, 'lib\\weird.js'), 'utf8')).toBe('weird')
  })

  it("':' and the characters Windows refuses are legal names here (a:b, <x>, c:x, nul.txt)", () => {
    fs.writeFileSync(join(dir, 'src'), 's')
    const names = ['a:b', 'c:x', '<x>|?*"', 'nul.txt', 'CON', 'trailing.', 'sp ace ']
    const into = join(dir, 'out')
    importFilesSync(
      names.map((path) => ({ path, src: join(dir, 'src') })),
      { into },
    )
    expect(fs.readdirSync(into).sort()).toEqual([...names].sort())
  })
})

describe('a hostile entry among good ones', () => {
  it('../x as the 500th of 1,000 entries fails naming that entry, and nothing is written', async () => {
    fs.writeFileSync(join(dir, 'src'), 's')
    const entries = Array.from({ length: 1000 }, (_, i) => ({ path: `lib/f${i}.js`, src: join(dir, 'src') }))
    entries[499] = { path: '../x', src: join(dir, 'src') }
    const into = join(dir, 'deep', 'out')
    const before = snapshot(dir)
    const err = await importFiles(entries, { into }).catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_UNSAFE_PATH', entry: '../x' })
    expect(err.message).toBe("Unsafe path in entry '../x': the path climbs out with '..'")
    expect(fs.existsSync(join(dir, 'deep'))).toBe(false)
    expect(fs.existsSync(join(dir, 'x'))).toBe(false)
    expect(snapshot(dir)).toEqual(before)
  })
})

describe('importTree into its own source', () => {
  const tree = () => {
    const src = join(dir, 'pkg')
    fs.mkdirSync(join(src, 'lib'), { recursive: true })
    fs.writeFileSync(join(src, 'index.js'), 'i')
    fs.writeFileSync(join(src, 'lib', 'a.js'), 'a')
    return src
  }

  for (const [what, into] of [
    ['a new directory inside it', 'pkg/copy'],
    ['a new directory deeper inside it', 'pkg/lib/x/y'],
    ['an existing directory inside it', 'pkg/lib'],
    ['itself', 'pkg'],
    ['itself, by a path with ./ and a trailing slash', './pkg/'],
  ] as const) {
    it(`is refused for ${what} before anything is written`, async () => {
      const src = tree()
      const before = snapshot(dir)
      const target = join(dir, into)
      const err = await importTree(src, target).catch((e) => e)
      expect(err).toBeInstanceOf(Error)
      expect(err).toMatchObject({ code: 'ERR_CACHELINK_INTO_SOURCE', path: src, dest: target })
      expect(err.message).toBe(
        `ERR_CACHELINK_INTO_SOURCE: cannot import a directory into itself or a subdirectory of itself, import '${src}' -> '${target}'`,
      )
      expect(err.errno).toBeUndefined()
      expect(snapshot(dir)).toEqual(before)
      expect(() => importTreeSync(src, target)).toThrow(/ERR_CACHELINK_INTO_SOURCE/)
      expect(snapshot(dir)).toEqual(before)
    })
  }

  it.skipIf(onWindows)('is refused through a symlink to a directory inside it', async () => {
    const src = tree()
    fs.symlinkSync(join(src, 'lib'), join(dir, 'link'))
    const before = snapshot(dir)
    const err = await importTree(src, join(dir, 'link', 'new')).catch((e) => e)
    expect(err).toMatchObject({ code: 'ERR_CACHELINK_INTO_SOURCE' })
    expect(snapshot(dir)).toEqual(before)
  })

  it('a sibling whose name starts with the source name is fine (pkg -> pkg2)', async () => {
    const src = tree()
    const stats = await importTree(src, join(dir, 'pkg2'))
    expect(stats.files).toBe(2)
    expect(fs.readFileSync(join(dir, 'pkg2', 'lib', 'a.js'), 'utf8')).toBe('a')
  })
})

// The names Windows refuses are tested where Windows runs: platform.spec.ts.
