// Exit codes and error lines: 0 success, 1 the operation failed, 2 usage error. An error is one
// line on stderr, `cachelink <command>: <code>: <message>` (Node's fs message already names the
// code, the syscall and the paths); with --json it is also the JSON document on stdout. The
// stack is printed only when NODE_DEBUG names cachelink.
import { debuglog } from 'node:util'
import type { Output } from './output.js'

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

/** Runs a command's body and turns what it returns or throws into the exit code. */
export async function run(command: string, out: Output, body: () => Promise<number>): Promise<void> {
  let code: number
  try {
    code = await body()
  } catch (err) {
    process.stderr.write(`${errorLine(command, err)}\n`)
    if (debug.enabled && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`)
    if (out.json) process.stdout.write(`${JSON.stringify(errorJson(err), null, 2)}\n`)
    code = err instanceof UsageError ? EXIT.usage : EXIT.failed
  }
  process.exitCode = code
}
