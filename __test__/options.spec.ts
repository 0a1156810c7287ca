// Misspelled options, entry fields and package fields (issue 19, point 9): every public function
// refuses a name it does not know with ERR_INVALID_ARG_VALUE and a "did you mean", before it
// writes anything (async functions reject, their sync twins throw). On a real tmpfs.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  cleanTemp,
  cleanTempSync,
  importFiles,
  importFilesSync,
  importPackages,
  importPackagesSync,
  importTree,
  importTreeSync,
  linkFile,
  linkFileSync,
  pnpmStoreEntries,
  probe,
  probeSync,
  scanCache,
  scanCacheSync,
  verifyEntries,
  verifyEntriesSync,
} from '../ts/index.js'
import { FILE_ENTRY, IMPORT_FILES_OPTIONS } from '../ts/import.js'
import { withOptions } from '../ts/pnpm.js'
import { similar } from '../ts/suggest.js'
import { catchSync, mount, type Mounted, sandbox, skipWithout, snapshot } from './helpers.js'

/** The error of a misspelled name: ERR_INVALID_ARG_VALUE (a TypeError) naming it, with the suggestion. */
function expectUnknown(err: unknown, name: string, suggestion: string | null): void {
  expect(err).toBeInstanceOf(TypeError)
  const e = err as Error & { code: string }
  expect(e.code).toBe('ERR_INVALID_ARG_VALUE')
  expect(e.message).toContain(`'${name}'`)
  if (suggestion === null) expect(e.message).not.toContain('did you mean')
  else expect(e.message).toContain(`did you mean '${suggestion}'?`)
}

describe.skipIf(skipWithout('tmpfs'))('misspelled options, on tmpfs', () => {
  let fsys: Mounted
  let dir: string
  let src: string
  let store: string
  let index: Record<string, { integrity: string; mode: number; size: number }>
  beforeAll(() => {
    fsys = mount('tmpfs')
    dir = sandbox(fsys.dir)
    src = join(dir, 'cache-file')
    fs.writeFileSync(src, 'hello\n')
    // A pnpm store with one file, and its index.
    store = join(dir, 'store')
    const hex = createHash('sha512').update('hello\n').digest('hex')
    fs.mkdirSync(join(store, 'v10', 'files', hex.slice(0, 2)), { recursive: true })
    fs.copyFileSync(src, join(store, 'v10', 'files', hex.slice(0, 2), hex.slice(2)))
    index = { 'index.js': { integrity: `sha512-${Buffer.from(hex, 'hex').toString('base64')}`, mode: 0o644, size: 6 } }
    fs.mkdirSync(join(dir, 'tree'))
    fs.writeFileSync(join(dir, 'tree', 'a.js'), 'a\n')
  })
  afterAll(() => fsys?.unmount())

  // [what, the async call, its sync twin (or null), the name refused, the suggestion]
  type Case = [string, (t: string) => Promise<unknown>, ((t: string) => unknown) | null, string, string | null]
  const cases = (): Case[] => [
    ['linkFile: maxlinks', (t) => linkFile(src, join(t, 'x'), { maxlinks: 5 } as never), (t) => linkFileSync(src, join(t, 'x'), { maxlinks: 5 } as never), 'options.maxlinks', 'maxLinks'],
    ['linkFile: Method', (t) => linkFile(src, join(t, 'x'), { Method: 'copy' } as never), (t) => linkFileSync(src, join(t, 'x'), { Method: 'copy' } as never), 'options.Method', 'method'],
    ['importFiles: onExsting', (t) => importFiles([{ path: 'a', src }], { into: join(t, 'p'), onExsting: 'replace' } as never), (t) => importFilesSync([{ path: 'a', src }], { into: join(t, 'p'), onExsting: 'replace' } as never), 'options.onExsting', 'onExisting'],
    ['importFiles: a file entry with mutabel', (t) => importFiles([{ path: 'a', src, mutabel: true } as never], { into: join(t, 'p') }), (t) => importFilesSync([{ path: 'a', src, mutabel: true } as never], { into: join(t, 'p') }), 'entries[0].mutabel', 'mutable'],
    ['importFiles: a file entry with exec', (t) => importFiles([{ path: 'b', src }, { path: 'a', src, exec: true } as never], { into: join(t, 'p') }), null, 'entries[1].exec', 'executable'],
    ['importFiles: a dir entry with src', (t) => importFiles([{ path: 'a', dir: true, src } as never], { into: join(t, 'p') }), null, 'entries[0].src', null],
    ['importFiles: a symlink entry with exectuable', (t) => importFiles([{ path: 'a', symlink: 'b', executable: true } as never], { into: join(t, 'p') }), null, 'entries[0].executable', null],
    ['importTree: onExsting', (t) => importTree(join(dir, 'tree'), join(t, 'p'), { onExsting: 'replace' } as never), (t) => importTreeSync(join(dir, 'tree'), join(t, 'p'), { onExsting: 'replace' } as never), 'options.onExsting', 'onExisting'],
    ['importTree: into is importFiles\' option', (t) => importTree(join(dir, 'tree'), join(t, 'p'), { into: join(t, 'q') } as never), null, 'options.into', null],
    ['importPackages: threds', (t) => importPackages([{ into: join(t, 'p'), files: index }], { store, threds: 2 } as never), (t) => importPackagesSync([{ into: join(t, 'p'), files: index }], { store, threds: 2 } as never), 'options.threds', 'threads'],
    ['importPackages: a store field on a package', (t) => importPackages([{ into: join(t, 'p'), files: index }, { into: join(t, 'q'), files: index, store } as never], { store }), null, 'packages[1].store', null],
    ['importPackages: a file entry of a package with mutabel', (t) => importPackages([{ into: join(t, 'p'), files: [{ path: 'a', src, mutabel: true } as never] }]), null, 'packages[0].files[0].mutabel', 'mutable'],
    ['cleanTemp: olderThan', (t) => cleanTemp(t, { olderThan: 0 } as never), (t) => cleanTempSync(t, { olderThan: 0 } as never), 'options.olderThan', 'olderThanMs'],
    ['scanCache: nearat', (t) => scanCache(t, { nearat: 2 } as never), (t) => scanCacheSync(t, { nearat: 2 } as never), 'options.nearat', 'nearAt'],
    ['verifyEntries: repiar', () => verifyEntries([], { repiar: false } as never), () => verifyEntriesSync([], { repiar: false } as never), 'options.repiar', 'repair'],
    ['probe: any option', (t) => probe(dir, t, { bogus: 1 } as never), (t) => probeSync(dir, t, { bogus: 1 } as never), 'options.bogus', null],
    ['pnpmStoreEntries: repairfrom', () => pnpmStoreEntries(store, { repairfrom: store } as never), null, 'options.repairfrom', 'repairFrom'],
  ]

  for (const [what, call, sync, name, suggestion] of cases()) {
    it(`${what}: rejects with ERR_INVALID_ARG_VALUE naming ${name}, and writes nothing`, async () => {
      const target = sandbox(dir)
      const before = snapshot(dir)
      let result: Promise<unknown> | undefined
      expect(() => {
        result = call(target)
      }).not.toThrow()
      expect(result).toBeInstanceOf(Promise)
      expectUnknown(await result!.catch((e) => e), name, suggestion)
      expect(snapshot(dir)).toEqual(before)
      if (sync) {
        expectUnknown(catchSync(() => sync(target)), name, suggestion)
        expect(snapshot(dir)).toEqual(before)
      }
    })
  }

  it('a misspelled onExisting leaves an installed package as it was (no merge instead of a replace)', async () => {
    const into = join(dir, 'installed')
    await importFiles([{ path: 'old.js', src }], { into })
    const before = snapshot(into)
    const err = await importFiles([{ path: 'new.js', src }], { into, onExsting: 'replace' } as never).catch((e) => e)
    expectUnknown(err, 'options.onExsting', 'onExisting')
    expect(snapshot(into)).toEqual(before)
  })

  it('a misspelled field of a later package puts no package in place', async () => {
    const tree = sandbox(dir)
    const pkgs = Array.from({ length: 5 }, (_, i) => ({ into: join(tree, `p${i}`), files: index }))
    const err = await importPackages([...pkgs, { into: join(tree, 'bad'), fiels: index } as never], { store }).catch((e) => e)
    expectUnknown(err, 'packages[5].fiels', 'files')
    expect(fs.readdirSync(tree)).toEqual([])
  })

  it('known options and fields, trustStore included, are accepted', async () => {
    const tree = sandbox(dir)
    await importFiles([{ path: 'a', src, executable: false, size: 6, mutable: true }, { path: 'l', symlink: 'a' }, { path: 'd', dir: true }], {
      into: join(tree, 'f'),
      method: 'auto',
      fallback: true,
      onLinkLimit: 'reset',
      maxLinks: 100,
      ifExists: 'error',
      onExisting: 'merge',
      keep: [],
      onConflict: 'error',
      atomic: true,
      threads: 1,
      signal: new AbortController().signal,
      onProgress: () => {},
      trustStore: false,
    } as never)
    await importPackages([{ into: join(tree, 'p'), files: index }], { store, trustStore: false } as never)
    expect(fs.readdirSync(tree).sort()).toEqual(['f', 'p'])
  })
})

describe('misspelled options of the pnpm hook', () => {
  it('withOptions refuses an unknown option with a suggestion', () => {
    expectUnknown(catchSync(() => withOptions({ maxlinks: 177 } as never)), 'options.maxlinks', 'maxLinks')
    expectUnknown(catchSync(() => withOptions({ bogus: true } as never)), 'options.bogus', null)
  })

  it('refuses an unknown CACHELINK_PNPM value with a suggestion', () => {
    process.env.CACHELINK_PNPM = 'of'
    try {
      const err = catchSync(() => withOptions()) as Error & { code: string }
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
      expect(err.message).toContain('CACHELINK_PNPM=of')
      expect(err.message).toContain("did you mean 'off'?")
      process.env.CACHELINK_PNPM = 'on'
      expect(typeof withOptions().hooks.importPackage).toBe('function')
    } finally {
      delete process.env.CACHELINK_PNPM
    }
  })
})

describe('the "did you mean" rules (ts/suggest.ts)', () => {
  it('agree with commander\'s, which the CLI\'s unknown flags use, where cachelink adds nothing', () => {
    const require = createRequire(import.meta.url)
    const { suggestSimilar } = require(join(import.meta.dirname, '..', 'node_modules', 'commander', 'lib', 'suggestSimilar.js'))
    const known = Object.keys(IMPORT_FILES_OPTIONS)
    for (const word of ['onExisitng', 'treads', 'atomc', 'fallbak', 'maxLink', 'ifExist', 'xyz', 'kep', 'onConflic', 'sginal']) {
      const theirs = /Did you mean (?:one of )?(.*)\?\)/.exec(suggestSimilar(word, known))?.[1].split(', ') ?? []
      expect(similar(word, known)).toEqual(theirs)
    }
    // Added: case is ignored first; a word that starts a name; of equally close ones, those it starts.
    expect(similar('maxlinks', known)).toEqual(['maxLinks'])
    expect(similar('exec', Object.keys(FILE_ENTRY))).toEqual(['executable'])
    expect(similar('of', ['on', 'off'])).toEqual(['off'])
  })
})
