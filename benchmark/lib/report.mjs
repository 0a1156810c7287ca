// Tables for RESULTS.md and the terminal.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import { IMPLS, label } from './impls.mjs'

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
const fmtRatio = (x) => (x == null || !isFinite(x) ? '–' : `${x.toFixed(2)}×`)

export function machine () {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? '?'
  let kernel = os.release()
  try { kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim() } catch {}
  return {
    nproc: os.availableParallelism(),
    cpu,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel,
    node: process.version
  }
}

/** One row per implementation that ran in the group: its runs and their medians. */
function rowsOf (group, files) {
  const rows = []
  for (const impl of IMPLS) {
    const runs = group.runs[impl]
    if (!runs) continue
    const ok = runs.filter((r) => !r.error)
    const failed = runs.filter((r) => r.error)
    if (!ok.length) { rows.push({ impl, failed, ok }); continue }
    const fps = ok.map((r) => files / (r.ms / 1000))
    rows.push({
      impl,
      ok,
      failed,
      medianFps: median(fps),
      minFps: Math.min(...fps),
      medianMs: median(ok.map((r) => r.ms)),
      minMs: Math.min(...ok.map((r) => r.ms)),
      rssMiB: Math.max(...ok.map((r) => r.maxRssKb)) / 1024,
      detail: ok.at(-1).detail
    })
  }
  return rows
}

/** Summary of one (filesystem, method) group: one row per implementation that ran. */
export function summarize (group, files) {
  const rows = rowsOf(group, files)
  // cachelink importFiles: 1 and 4 packages in flight both run; the table shows the faster.
  const batch = rows.filter((r) => r.impl.startsWith('cachelink-import-') && r.medianFps)
  let other = null
  if (batch.length === 2) {
    const [best, worse] = batch[0].medianFps >= batch[1].medianFps ? batch : [batch[1], batch[0]]
    other = worse
    rows.splice(rows.indexOf(worse), 1)
    best.best = true
  }
  // The headline: importPackages when it ran, else the importFiles row shown.
  const headline = rows.find((r) => r.impl === 'cachelink-packages' && r.medianFps) ?? rows.find((r) => r.impl.startsWith('cachelink-import-') && r.medianFps)
  const floor = rows.find((r) => r.impl === 'floor-2')?.medianFps
  const pnpm = rows.find((r) => r.impl === 'pnpm')?.medianFps
  for (const r of rows) {
    if (!r.medianFps) continue
    r.vsFloor = floor ? r.medianFps / floor : null
    r.vsPnpm = pnpm ? r.medianFps / pnpm : null
  }
  return { rows, other, headline }
}

export function table (group, files) {
  const { rows, other, headline } = summarize(group, files)
  const out = [
    '| implementation | files/s median | files/s min | ms median | ms min | vs C floor (2 threads) | vs pnpm | peak RSS | runs |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|'
  ]
  const notes = []
  if (headline && (headline.vsFloor != null || headline.vsPnpm != null)) {
    notes.push(`- cachelink, ${label(headline.impl, group.method).replace(/^cachelink /, '')}: ${fmtRatio(headline.vsFloor)} the C floor (2 threads), ${fmtRatio(headline.vsPnpm)} pnpm's importer (medians).`)
  }
  for (const r of rows) {
    const name = label(r.impl, group.method) + (r.best ? ' (the faster of 1 and 4)' : '')
    const runs = `${r.ok.length}${r.failed.length ? ` (+${r.failed.length} failed)` : ''}`
    if (!r.medianFps) {
      out.push(`| ${name} | failed | | | | | | | ${runs} |`)
    } else {
      out.push(`| ${name} | ${fmtInt(r.medianFps)} | ${fmtInt(r.minFps)} | ${fmtInt(r.medianMs)} | ${fmtInt(r.minMs)} | ` +
        `${fmtRatio(r.vsFloor)} | ${fmtRatio(r.vsPnpm)} | ${r.rssMiB.toFixed(0)} MiB | ${runs} |`)
    }
    for (const f of r.failed.slice(0, 3)) notes.push(`- ${label(r.impl, group.method)} failed in round ${f.round + 1}: ${f.error}`)
    if ((r.impl.startsWith('cachelink-import') || r.impl.startsWith('cachelink-packages') || r.impl === 'cachelink-js') && r.detail) notes.push(`- ${label(r.impl, group.method)}, ImportStats summed over packages (last run): \`${JSON.stringify(r.detail)}\``)
  }
  if (other) notes.push(`- ${label(other.impl, group.method)}: ${fmtInt(other.medianFps)} files/s median (${fmtInt(other.medianMs)} ms).`)
  for (const s of group.skipped) notes.push(`- not run: ${s}`)
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n')
}

/** The reset row: files/s, and the copies each implementation made of the hot entries (counted in the tree). */
export function resetTable (group, files) {
  const h = group.hot
  const out = [
    '| implementation | files/s median | files/s min | ms median | copies of hot entries (median) | cachelink resets / linkLimitCopies | vs pnpm | peak RSS | runs |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|'
  ]
  const notes = []
  const rows = rowsOf(group, files)
  const pnpm = rows.find((r) => r.impl === 'pnpm')?.medianFps
  for (const r of rows) {
    const runs = `${r.ok.length}${r.failed.length ? ` (+${r.failed.length} failed)` : ''}`
    const name = label(r.impl, 'hardlink')
    if (!r.ok.length) {
      out.push(`| ${name} | failed | | | | | | | ${runs} |`)
    } else {
      const d = r.ok.at(-1).detail
      const limit = d && 'resets' in d ? `${fmtInt(median(r.ok.map((x) => x.detail.resets)))} / ${fmtInt(median(r.ok.map((x) => x.detail.linkLimitCopies ?? 0)))}` : '–'
      out.push(`| ${name} | ${fmtInt(r.medianFps)} | ${fmtInt(r.minFps)} | ${fmtInt(r.medianMs)} | ` +
        `${fmtInt(median(r.ok.map((x) => x.hot.hotCopies)))} | ${limit} | ${fmtRatio(pnpm ? r.medianFps / pnpm : null)} | ` +
        `${r.rssMiB.toFixed(0)} MiB | ${runs} |`)
    }
    for (const f of r.failed.slice(0, 3)) notes.push(`- ${name} failed in round ${f.round + 1}: ${f.error}`)
  }
  for (const s of group.skipped) notes.push(`- not run: ${s}`)
  return [
    `${h.entries} hot store entries (the non-empty files used by the most packages: ${fmtInt(h.files)} files of the tree, in ${fmtInt(h.packages)} package folders) ` +
      `at ${fmtInt(h.limit)} links (ext4's limit) before every run; made once in ${h.setupS.toFixed(1)} s (links.c, side folders outside the store), ` +
      'the hot inode put back at its store path before each run. "Copies of hot entries": the inodes other than the entry\'s own that the tree\'s files of hot entries are on ' +
      '(pnpm copies each file on EMLINK; a cachelink reset copies the entry once and links the copy). cachelink\'s resets and linkLimitCopies are its ImportStats, summed.',
    '',
    ...out,
    ...(notes.length ? ['', ...notes] : [])
  ].join('\n')
}

/** strace -f -c counts: per call, count, per file and per directory, for each implementation traced. */
export function straceTable (s) {
  const names = [...new Set(s.impls.flatMap((i) => Object.keys(i.calls)))]
  const total = (i) => Object.values(i.calls).reduce((a, b) => a + b, 0)
  const key = s.impls[0]
  names.sort((a, b) => (key.calls[b] ?? 0) - (key.calls[a] ?? 0) || a.localeCompare(b))
  const per = (n, d) => (n / d).toFixed(n / d < 0.01 ? 4 : 2)
  const head = s.impls.map((i) => label(i.impl, 'hardlink'))
  const out = [
    `| call | ${head.map((h) => `${h}: calls | per file | per dir`).join(' | ')} |`,
    `|---|${s.impls.map(() => '--:|--:|--:').join('|')}|`
  ]
  const shown = names.filter((n) => s.impls.some((i) => (i.calls[n] ?? 0) >= 10))
  const failed = (i, n) => i.failed?.[n] ? ` (${fmtInt(i.failed[n])} failed)` : ''
  for (const n of shown) out.push(`| ${n} | ${s.impls.map((i) => i.calls[n] ? `${fmtInt(i.calls[n])}${failed(i, n)} | ${per(i.calls[n], s.files)} | ${per(i.calls[n], s.dirs)}` : '– | | ').join(' | ')} |`)
  const rest = (i) => Object.entries(i.calls).filter(([n]) => !shown.includes(n)).reduce((a, [, v]) => a + v, 0)
  out.push(`| (others, under 10 each) | ${s.impls.map((i) => `${fmtInt(rest(i))} | | `).join(' | ')} |`)
  out.push(`| **all** | ${s.impls.map((i) => `${fmtInt(total(i))} | ${per(total(i), s.files)} | ${per(total(i), s.dirs)}`).join(' | ')} |`)
  return [
    `\`strace -f -c\` of one hardlink import on tmpfs (${fmtInt(s.files)} files, ${fmtInt(s.dirs)} directories in the tree), each tree verified. ` +
      'The Node process is attached once it has loaded the index and waits for "go" (its start is not counted; its exit is); ' +
      'the floor is traced whole (its start and reading its lists are counted: a few dozen calls). Failed calls: ' +
      s.impls.map((i) => `${label(i.impl, 'hardlink')} ${fmtInt(i.errors)}`).join(', ') + '.',
    '',
    ...out
  ].join('\n')
}

export function resultsMarkdown ({ machine: m, command, date, corpus, groups, files, baselineRssMiB, elapsedS, rounds, build, tools, verify, strace }) {
  const lines = [
    '# cachelink benchmark results',
    '',
    'Written by `npm run bench` (benchmark/run.mjs); do not edit by hand.',
    '',
    `- command: \`${command}\``,
    `- date: ${date}, total ${elapsedS} s`,
    `- machine: ${m.nproc} cores (\`nproc\`), ${m.cpu}, ${m.memory} memory, ${m.kernel}, Node ${m.node}`,
    `- cachelink build: ${build}`,
    `- others: ${tools}; pnpm's importer is called as pnpm calls it, synchronously, one package at a time`,
    '  (pnpm runs it in `max(1, availableParallelism() - 1)` worker threads, pnpm/pnpm worker/src/index.ts: one on 2 cores)',
    `- corpus: ${corpus} (benchmark/corpus/package-lock.json); each run imports all ${fmtInt(files)} files into a fresh pnpm-layout tree`,
    `  (\`node_modules/.pnpm/<name>@<version>/node_modules/<name>/...\`) on the same filesystem as the store, which is laid out as pnpm 10's`,
    '  (`<store>/files/<2 hex>/<126 hex>[-exec]`)',
    '- end to end: a Node run loads only pnpm\'s package index before it is timed (per package its name, version and pnpm 10\'s',
    '  `files` map `{ [path]: { integrity, mode, size } }`); the store paths (from integrity and mode, as pnpm\'s',
    '  getFilePathByModeInCafs), the destinations, the folders and the import are timed. The C floor and cp get their',
    '  lists (paths) ready-made, untimed.',
    `- ${rounds} rounds; each round runs every implementation once, in an order rotated by one each round;`,
    '  each run is a fresh process, timed end to end from pnpm\'s package index (below); a run counts only if the tree verifies',
    '  (every file present, nothing extra, sizes and exec bits right, hard links on the store inode, clones and copies',
    '  on their own inode with a sample of bytes equal; clones share extents with the store, checked with FIEMAP).',
    '- files/s min is the slowest round; ratios compare medians; peak RSS is the largest of the runs',
    `  (a Node process that loads pnpm's package index, importing nothing, peaks at ${baselineRssMiB.toFixed(0)} MiB).`,
    ''
  ]
  for (const g of groups) {
    const where = g.img
      ? `loop device, a ${(g.size / 2 ** 30).toFixed(1)} GiB image file in ${g.backing}, made by \`${g.mkfs}\``
      : `size ${(g.size / 2 ** 30).toFixed(1)} GiB`
    const title = g.method === 'reset' ? `reset: hardlink on ${g.fs}, hot store entries at the link limit` : `${g.method} on ${g.fs}`
    lines.push(`## ${title}`, '', `Mount: \`${g.mount}\` (${where}).`, '', g.method === 'reset' ? resetTable(g, files) : table(g, files), '')
  }
  if (strace) lines.push('## system calls', '', straceTable(strace), '')
  if (verify) lines.push('## verify', '', `\`${verify.command}\` (benchmark/verify.mjs), in the same run:`, '', '```', verify.output.trim(), '```', '')
  return lines.join('\n')
}
