/**
 * A real SFTP mount for the tests: an sshd of the test's own (bound to 127.0.0.1 only, on a free
 * port, with its own host key, authorized key and config in a temp dir; root may log in by key
 * only) serving a directory, mounted with sshfs. SFTP hides link counts (every file reports one
 * link) and turns the server's EMLINK into EPERM (SSH_FX_FAILURE); sshfs makes hard links with
 * the hardlink@openssh.com extension, on by default. `stop` unmounts and kills what `start` made,
 * whatever state it is in. Debian's sshfs and openssh-server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot, onLinux } from './helpers.js'

const SSHD = '/usr/sbin/sshd'

/** Why an sshfs mount cannot be made here; undefined when it can. */
export function noSshfs(): string | undefined {
  if (!onLinux || !isRoot) return 'sshfs mounts need Linux and root'
  if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing'
  try {
    execFileSync('sh', ['-c', 'command -v sshfs && command -v ssh-keygen'], { stdio: 'ignore' })
  } catch {
    return 'sshfs is not installed (apt-get install sshfs)'
  }
  if (!fs.existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`
  return undefined
}

/** For `describe.skipIf`: true when sshfs cannot run; throws under CI=true instead. */
export function skipWithoutSshfs(): boolean {
  const why = noSshfs()
  if (!why) return false
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`CI=true and an sshfs test cannot run: ${why}`)
  console.warn(`\n*** SKIPPING sshfs tests: ${why} ***\n`)
  return true
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const mounted = (dir: string) => fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir} `)

export interface Sftp {
  /** The sshd's temp dir (keys, config, log). */
  base: string
  port: number
  /** Mounts `remote` (a directory on this machine, served by the sshd) at a fresh directory. */
  mount(remote: string): string
  /** Unmounts every mount of `mount` and stops the sshd; safe to call twice. */
  stop(): void
}

/** Starts an sshd on 127.0.0.1 (waits until it listens). */
export async function startSftp(): Promise<Sftp> {
  const base = fs.mkdtempSync(join(tmpdir(), 'cachelink-sshd-'))
  const key = (name: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(base, name)])
  key('host_key')
  key('user_key')
  fs.copyFileSync(join(base, 'user_key.pub'), join(base, 'authorized_keys'))
  fs.chmodSync(join(base, 'authorized_keys'), 0o600)
  const port = await freePort()
  fs.writeFileSync(
    join(base, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(base, 'host_key')}`,
      `AuthorizedKeysFile ${join(base, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `PidFile ${join(base, 'sshd.pid')}`,
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  )
  // sshd -D: in the foreground, so the test holds its process; privilege separation needs this.
  fs.mkdirSync('/run/sshd', { recursive: true })
  const log = fs.openSync(join(base, 'sshd.log'), 'a')
  const sshd: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', join(base, 'sshd_config')], { stdio: ['ignore', log, log] })
  fs.closeSync(log)
  const mounts: string[] = []
  const sftp: Sftp = {
    base,
    port,
    mount(remote) {
      const dir = fs.mkdtempSync(join(base, 'mnt-'))
      execFileSync(
        'sshfs',
        [
          '-o',
          `IdentityFile=${join(base, 'user_key')},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR,port=${port}`,
          `root@127.0.0.1:${remote}`,
          dir,
        ],
        { stdio: 'pipe', timeout: 20_000 },
      )
      mounts.push(dir)
      return dir
    },
    stop() {
      process.off('exit', sftp.stop)
      for (const dir of mounts.splice(0)) {
        try {
          execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
        } catch {}
      }
      sshd.kill()
      fs.rmSync(base, { recursive: true, force: true })
    },
  }
  // Also when the test process ends without afterAll (a crash, process.exit): no sshd is left.
  process.once('exit', sftp.stop)
  try {
    for (let i = 0; ; i++) {
      const text = fs.readFileSync(join(base, 'sshd.log'), 'utf8')
      if (text.includes('Server listening')) break
      if (sshd.exitCode !== null || i > 200) throw new Error(`sshd did not start:\n${text}`)
      await sleep(25)
    }
  } catch (e) {
    sftp.stop()
    throw e
  }
  return sftp
}

/** nolinkfs.py with a real link limit (EMLINK at `limit` links), for the sshd to serve. */
export async function startNolinkfs(limit: number): Promise<{ dir: string; stop(): void }> {
  const base = fs.mkdtempSync(join(tmpdir(), 'cachelink-nolinkfs-'))
  const dir = join(base, 'mnt')
  fs.mkdirSync(join(base, 'backing'))
  fs.mkdirSync(dir)
  const fuse = spawn('/usr/bin/python3', [join(import.meta.dirname, 'fixtures', 'nolinkfs.py'), join(base, 'backing'), dir], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LINK_LIMIT: String(limit) },
  })
  const stop = () => {
    process.off('exit', stop)
    try {
      if (mounted(dir)) execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
    } catch {}
    fuse.kill()
    fs.rmSync(base, { recursive: true, force: true })
  }
  process.once('exit', stop)
  for (let i = 0; !mounted(dir); i++) {
    if (fuse.exitCode !== null || i > 200) {
      stop()
      throw new Error('nolinkfs.py did not mount')
    }
    await sleep(25)
  }
  return { dir, stop }
}
