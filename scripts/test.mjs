// Runs every test and ends with one line: "N passed, N failed".
//   1. the vitest suite on the native backend (CACHELINK_BACKEND=native: a missing binary fails);
//   2. the same suite on the JS backend (CACHELINK_BACKEND=js);
//   3. cargo test.
// Each pass prints its own line before the total; the two vitest passes must count the same
// tests. Exit status 1 when anything failed or nothing ran. `--backend native|js` runs one
// vitest pass only (and no cargo); other arguments go to vitest.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const args = process.argv.slice(2)
let only
const at = args.indexOf('--backend')
if (at >= 0) {
  only = args[at + 1]
  args.splice(at, 2)
  if (only !== 'native' && only !== 'js') {
    console.error('--backend takes native or js')
    process.exit(2)
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'cachelink-test-'))
/** @type {Array<{ name: string, passed: number, failed: number, skipped: number, tests?: number }>} */
const lines = []

function vitest(backend) {
  const report = join(tmp, `vitest-${backend}.json`)
  const line = { name: `${backend} backend (vitest)`, passed: 0, failed: 0, skipped: 0, tests: 0 }
  console.log(`\n== vitest, CACHELINK_BACKEND=${backend}`)
  const run = spawnSync(
    'npx',
    ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${report}`, ...args],
    { stdio: 'inherit', env: { ...process.env, CACHELINK_BACKEND: backend } },
  )
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'))
    line.passed += r.numPassedTests
    line.failed += r.numFailedTests
    line.skipped += r.numPendingTests + r.numTodoTests
    line.tests = r.numTotalTests
    // A suite that failed to load has no tests to count: count it as a failure.
    line.failed += r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length
  } catch {
    line.failed += 1
    console.error('vitest wrote no report')
  }
  if (run.status !== 0 && line.failed === 0) line.failed += 1
  lines.push(line)
  return line
}

function cargo() {
  const line = { name: 'cargo test', passed: 0, failed: 0, skipped: 0 }
  console.log('\n== cargo test')
  const run = spawnSync('cargo', ['test', '--manifest-path', 'crate/Cargo.toml'], { encoding: 'utf8' })
  process.stdout.write(run.stdout ?? '')
  process.stderr.write(run.stderr ?? '')
  const results = [...(run.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)]
  if (results.length === 0) line.failed += 1
  for (const [, p, f, i] of results) {
    line.passed += Number(p)
    line.failed += Number(f)
    line.skipped += Number(i)
  }
  if (run.status !== 0 && results.every(([, , f]) => f === '0')) line.failed += 1
  lines.push(line)
}

if (only) {
  vitest(only)
} else {
  const native = vitest('native')
  const js = vitest('js')
  if (native.tests !== js.tests) {
    console.error(`the two backends ran different test counts: native ${native.tests}, js ${js.tests}`)
    js.failed += 1
  }
  cargo()
}
rmSync(tmp, { recursive: true, force: true })

const text = (l) => `${l.passed} passed, ${l.failed} failed${l.skipped ? `, ${l.skipped} skipped` : ''}`
const sum = (k) => lines.reduce((n, l) => n + l[k], 0)
const total = { passed: sum('passed'), failed: sum('failed'), skipped: sum('skipped') }
console.log('')
for (const l of lines) console.log(`${l.name}: ${text(l)}`)
console.log(text(total))
process.exit(total.failed > 0 || total.passed === 0 ? 1 : 0)
