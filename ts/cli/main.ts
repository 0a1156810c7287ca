// The `cachelink` command. Arguments are parsed by commander (per-command help, "Did you mean"
// suggestions for unknown options and commands); each command lives in its own file.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Command, CommanderError, Option } from 'commander'
import { duration, examples, fraction, integer, type LinkFlags, withLinkOptions, withOutputOptions } from './args.js'
import { cleanCommand } from './clean.js'
import { demoCommand } from './demo.js'
import { importCommand, type ImportFlags } from './import.js'
import { linkCommand } from './link.js'
import type { OutputOptions } from './output.js'
import { probeCommand } from './probe.js'
import { resetCommand } from './reset.js'
import { EXIT, run } from './run.js'
import { scanCommand } from './scan.js'
import { verifyCommand } from './verify.js'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }

function thresholdOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--near <fraction>', 'entries with at least this fraction of the link limit (default: 0.9)')
        .argParser(fraction)
        .conflicts('above'),
    )
    .option('--above <n>', 'entries with more than n links, whatever the limit', integer(1))
    .option('--max-links <n>', 'the link limit to use (177 for AWS EFS); default: the filesystem\'s', integer(2))
}

export function program(): Command {
  const p = new Command('cachelink')
    .description('Look after a cache of files that installers hard-link, clone or copy from.')
    .version(version)
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      // Commander's own errors (unknown option, missing argument) as one line.
      outputError: (str, write) => write(`cachelink: ${str.replace(/^error: /, '').replace(/\n(?=.)/g, ' ').trim()}\n`),
    })

  examples(
    withOutputOptions(
      p
        .command('probe')
        .description('find out what works between a cache and a target directory, by trying it in temp files')
        .argument('<cacheDir>', 'a directory of the cache')
        .argument('<targetDir>', 'where files would be materialized'),
    ),
    ['cachelink probe ~/.cache/pnpm ./node_modules', 'cachelink probe /mnt/efs/store /app --json'],
  ).action((cacheDir: string, targetDir: string, o: OutputOptions) => {
    return run('probe', o, (out) => probeCommand(resolve(cacheDir), resolve(targetDir), out))
  })

  examples(
    withOutputOptions(
      thresholdOptions(
        p
          .command('scan')
          .description('walk a cache: files, bytes, link counts, entries near the link limit, leftovers')
          .argument('<cacheDir>', 'the cache directory'),
      ).option('--top <n>', 'entries listed in the text output', integer(0), 20),
    ),
    ['cachelink scan /store', 'cachelink scan /mnt/efs/store --max-links 177 --near 0.8', 'cachelink scan /store --above 1000 --json'],
  ).action((dir: string, o: OutputOptions & { near?: number; above?: number; maxLinks?: number; top: number }) => {
    return run('scan', o, (out, signal) => scanCommand(resolve(dir), o, out, signal))
  })

  examples(
    withOutputOptions(
      thresholdOptions(
        p
          .command('reset')
          .description(
            'reset entries near the link limit ahead of time: each gets a fresh inode (same bytes, mode, mtime); ' +
              'the old links keep working',
          )
          .argument('<cacheDir>', 'the cache directory'),
      ).option('-n, --dry-run', 'list what would be reset, change nothing'),
    ),
    ['cachelink reset /store --dry-run', 'cachelink reset /store --near 0.9', 'cachelink reset /mnt/efs/store --max-links 177'],
  ).action((dir: string, o: OutputOptions & { near?: number; above?: number; maxLinks?: number; dryRun?: boolean }) => {
    return run('reset', o, (out, signal) => resetCommand(resolve(dir), o, out, signal))
  })

  examples(
    withOutputOptions(
      withLinkOptions(
        p
          .command('import')
          .description('mirror a directory, or materialize a file map (index.json: what importFiles takes), into a directory')
          .requiredOption('--from <dir|index.json>', 'a directory to mirror, or a JSON file of [{ path, src }] or { path: src }')
          .requiredOption('--into <dir>', 'the destination directory'),
      )
        .option('--threads <n>', 'worker threads (default: the number of cores)', integer(1))
        .option('--no-atomic', 'write into the destination directly instead of a stage renamed into place')
        .addOption(
          new Option('--on-existing <what>', 'when the destination directory exists')
            .choices(['merge', 'replace', 'skip-if-linked', 'error'])
            .default('merge'),
        )
        .option('--keep <path...>', "with --on-existing replace: paths carried over from the old tree (e.g. node_modules)")
        .addOption(
          new Option('--on-conflict <what>', 'when two entries name the same file').choices(['error', 'first', 'last']).default('error'),
        ),
    ),
    [
      'cachelink import --from ~/.cache/uv/archive-v0/abc --into .venv/lib/python3.12/site-packages/pkg',
      'cachelink import --from index.json --into node_modules/foo --max-links 177',
      'cachelink import --from index.json --into node_modules/foo --on-existing replace --keep node_modules',
    ],
  ).action((o: OutputOptions & ImportFlags) => {
    return run('import', o, (out, signal) => importCommand(o, out, signal))
  })

  examples(
    withOutputOptions(
      withLinkOptions(
        p
          .command('link')
          .description('materialize one cache file at a destination')
          .argument('<src>', 'the cache file')
          .argument('<dest>', 'the destination'),
      ),
    ),
    ['cachelink link /store/ab/cdef node_modules/foo/index.js', 'cachelink link /store/ab/cdef out.js --method copy --if-exists replace'],
  ).action((src: string, dest: string, o: OutputOptions & LinkFlags) => {
    return run('link', o, (out) => linkCommand(resolve(src), resolve(dest), o, out))
  })

  examples(
    withOutputOptions(
      p
        .command('clean')
        .description("remove temp files and stages left by interrupted work (only those whose process is gone)")
        .argument('<dir>', 'a cache or destination directory')
        .option('--older-than <duration>', 'only leftovers at least this old: 90s, 30m, 1h, 2d, 0', duration, 60_000)
        .option('-n, --dry-run', 'list what would be removed, remove nothing'),
    ),
    ['cachelink clean /store', 'cachelink clean node_modules --older-than 1h --dry-run'],
  ).action((dir: string, o: OutputOptions & { olderThan: number; dryRun?: boolean }) => {
    return run('clean', o, (out, signal) => cleanCommand(resolve(dir), o, out, signal))
  })

  examples(
    withOutputOptions(
      p
        .command('verify')
        .description(
          'check every file of a pnpm store (or of a JSON list of { path, integrity, good? }) against its digest, ' +
            'and repair a wrong one in place from a good copy (same inode: every project linking it is repaired too)',
        )
        .argument('<store|list.json>', "a pnpm 10 store (`pnpm store path`), or a JSON list; exit 1 while a file is wrong or missing")
        .option(
          '--repair-from <dir>',
          'a good copy of the store (a backup, or a store filled by `pnpm fetch --store-dir <dir>` from the same lockfile): used only where its digest is right',
        )
        .option('--no-repair', 'only report, even where a good copy is given'),
    ),
    [
      'cachelink verify "$(pnpm store path)"',
      'mkdir /tmp/f && cp package.json pnpm-lock.yaml /tmp/f && (cd /tmp/f && pnpm fetch --store-dir /tmp/fresh)',
      'cachelink verify "$(pnpm store path)" --repair-from /tmp/fresh',
      'cachelink verify digests.json --json',
    ],
  ).action((target: string, o: OutputOptions & { repairFrom?: string; repair: boolean }) => {
    return run('verify', o, (out, signal) =>
      verifyCommand(resolve(target), { repair: o.repair, repairFrom: o.repairFrom && resolve(o.repairFrom) }, out, signal),
    )
  })

  examples(
    withOutputOptions(
      p
        .command('demo')
        .description('the main job on a small cache shipped with the package: 300 environments under the EFS link limit')
        .option('--envs <n>', 'environments to fill', integer(1), 300)
        .option('--max-links <n>', 'the link limit to keep to (AWS EFS: 177)', integer(2), 177)
        .option('--dir <dir>', 'work here (kept) instead of a temp directory (removed)')
        .option('--keep', 'keep the temp directory'),
    ),
    ['cachelink demo', 'cachelink demo --envs 1000 --max-links 177 --json'],
  ).action((o: OutputOptions & { envs: number; maxLinks: number; dir?: string; keep?: boolean }) => {
    return run('demo', o, (out, signal) => demoCommand({ ...o, dir: o.dir && resolve(o.dir) }, out, signal))
  })

  return p
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv)
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e
    // --help and --version end here with code 0; `cachelink` alone shows the help (code 1 in
    // commander's terms): both of those, and every parse error, are usage (2) unless asked for.
    const asked = e.code === 'commander.helpDisplayed' || e.code === 'commander.version'
    process.exitCode = asked ? EXIT.ok : EXIT.usage
  }
}

void main(process.argv)
