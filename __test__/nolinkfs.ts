/**
 * nolinkfs.py (fixtures/) mounted on a fresh directory with the environment given (LINK_ERRNO,
 * FAIL_OPS, ...: the fixture's header), for the specs that need a filesystem answering an errno
 * nothing else produces here. `log` collects its stderr lines (`LINK <source>`, `FAIL <op>
 * <path>`), the calls it refused.
 */
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const FIXTURE = fileURLToPath(new URL('./fixtures/nolinkfs.py', import.meta.url))

export interface Nolinkfs {
  dir: string
  log: string[]
  unmount(): void
}

export async function mountNolinkfs(env: Record<string, string>): Promise<Nolinkfs> {
  const base = fs.mkdtempSync(join(tmpdir(), 'cachelink-nolinkfs-'))
  const dir = join(base, 'mnt')
  fs.mkdirSync(join(base, 'backing'))
  fs.mkdirSync(dir)
  const fuse = spawn('/usr/bin/python3', [FIXTURE, join(base, 'backing'), dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  })
  const log: string[] = []
  let text = ''
  fuse.stderr?.on('data', (d) => {
    text += d
    const lines = text.split('\n')
    text = lines.pop() ?? ''
    log.push(...lines)
  })
  for (let i = 0; i < 200 && !fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `); i++) {
    await new Promise((r) => setTimeout(r, 25))
  }
  if (!fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `)) {
    fuse.kill()
    throw new Error(`nolinkfs.py did not mount: ${log.join('\n')}`)
  }
  return {
    dir,
    log,
    unmount() {
      try {
        execFileSync('umount', [dir])
      } finally {
        fuse.kill()
        fs.rmSync(base, { recursive: true, force: true })
      }
    },
  }
}

/** Lets the fixture's stderr lines in (the sync calls hold the event loop). */
export const settle = () => new Promise((r) => setTimeout(r, 50))
