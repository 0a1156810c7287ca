// Runs every test (vitest, then cargo test) and ends with one line: "N passed, N failed".
// Exit status 1 when anything failed or nothing ran. Extra arguments go to vitest.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const tmp = mkdtempSync(join(tmpdir(), 'cachelink-test-'))
const report = join(tmp, 'vitest.json')
let passed = 0
let failed = 0
let skipped = 0

const vitest = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${report}`, ...process.argv.slice(2)],
  { stdio: 'inherit' },
)
try {
  const r = JSON.parse(readFileSync(report, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + r.numTodoTests
  // A suite that failed to load has no tests to count: count it as a failure.
  failed += r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length
} catch {
  failed += 1
  console.error('vitest wrote no report')
}
if (vitest.status !== 0 && failed === 0) failed += 1
rmSync(tmp, { recursive: true, force: true })

const cargo = spawnSync('cargo', ['test', '--manifest-path', 'crate/Cargo.toml'], { encoding: 'utf8' })
process.stdout.write(cargo.stdout ?? '')
process.stderr.write(cargo.stderr ?? '')
const results = [...(cargo.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)]
if (results.length === 0) failed += 1
for (const [, p, f, i] of results) {
  passed += Number(p)
  failed += Number(f)
  skipped += Number(i)
}
if (cargo.status !== 0 && results.every(([, , f]) => f === '0')) failed += 1

console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
