// Exit codes and error lines: 0 success, 1 the operation failed, 2 usage error. An error is one
// line on stderr, `cachelink <command>: <code>: <message>` (Node's fs message already names the
// code, the syscall and the paths); with --json it is also the JSON document on stdout. The
// stack is printed only when NODE_DEBUG names cachelink.
import { debuglog } from 'node:util'
import { Output, type OutputOptions } from './output.js'

/** A mistake in how the command was called, found after parsing: exit 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE'
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

const debug = debuglog('cachelink')

export function errorLine(command: string, err: unknown): string {
  const e = err as Partial<NodeJS.ErrnoException> & { entry?: string; dest?: string }
  const message = e?.message ?? String(err)
  const code = typeof e?.code === 'string' ? e.code : undefined
  const withCode = code && !message.startsWith(`${code}:`) && !(err instanceof UsageError) ? `${code}: ${message}` : message
  const where = e?.entry ? ` (entry '${e.entry}')` : ''
  return `cachelink ${command}: ${withCode.split('\n')[0]}${where}`
}

export function errorJson(err: unknown) {
  const e = err as Partial<NodeJS.ErrnoException> & { entry?: string; dest?: string }
  return {
    error: {
      code: e?.code ?? 'UNKNOWN',
      message: e?.message ?? String(err),
      errno: e?.errno,
      syscall: e?.syscall,
      path: e?.path,
      dest: e?.dest,
      entry: e?.entry,
    },
  }
}

/**
 * Runs a command's body and turns what it returns or throws into the exit code. Ctrl-C (SIGINT,
 * or SIGTERM) aborts the body's signal: an import then removes its stage, and the command exits
 * 130 (143 for SIGTERM) with one line; a second signal exits at once.
 */
export async function run(
  command: string,
  options: OutputOptions,
  body: (out: Output, signal: AbortSignal) => Promise<number>,
): Promise<void> {
  const out = new Output(options)
  const abort = new AbortController()
  let signalled: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) process.exit(128 + (sig === 'SIGINT' ? 2 : 15))
    signalled = sig
    abort.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let code: number
  try {
    code = await body(out, abort.signal)
  } catch (err) {
    if (signalled && (err as Error)?.name === 'AbortError') {
      process.stderr.write(`cachelink ${command}: interrupted (${signalled}); nothing was left half-done\n`)
      process.exitCode = 128 + (signalled === 'SIGINT' ? 2 : 15)
      return
    }
    process.stderr.write(`${errorLine(command, err)}\n`)
    if (debug.enabled && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`)
    if (out.json) process.stdout.write(`${JSON.stringify(errorJson(err), null, 2)}\n`)
    code = err instanceof UsageError ? EXIT.usage : EXIT.failed
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  process.exitCode = code
}
