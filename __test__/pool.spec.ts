/**
 * Long calls (imports, scans) run on cachelink's own threads, not libuv's pool, which the
 * application's fs, dns and zlib share: with a one-thread libuv pool, `fs.promises.stat` calls
 * started after a long call still finish long before it does.
 */
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sandbox } from './helpers.js'

const fixture = join(import.meta.dirname, 'fixtures', 'threadpool.mjs')

function run(dir: string, what: 'import' | 'scan'): { call: number; stats: number[] } {
  const out = execFileSync(process.execPath, [fixture, dir, what], {
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    encoding: 'utf8',
  })
  return JSON.parse(out)
}

describe('long calls leave the libuv pool to the application (UV_THREADPOOL_SIZE=1)', () => {
  let dir: string
  beforeEach(() => {
    dir = sandbox()
  })
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('every fs.promises.stat started after a 60,000-file importFiles finishes before it', () => {
    const { call, stats } = run(dir, 'import')
    expect(stats).toHaveLength(200)
    expect(Math.max(...stats)).toBeLessThan(call)
  })

  it('every fs.promises.stat started after a scanCache of 60,000 files finishes before it', () => {
    const { call, stats } = run(dir, 'scan')
    expect(stats).toHaveLength(200)
    expect(Math.max(...stats)).toBeLessThan(call)
  })
})
