// linkFile, 64 in flight, and linkFileSync, against fs.promises.link, for one or more cachelink
// builds in one run (interleaved, 5 rounds, medians): how the binding's per-call cost compares.
//
//   node benchmark/linkfile-ab.mjs dist/index.js /path/to/other/build/dist/index.js
//
// 40,000 links of 2,000 small files in /dev/shm (tmpfs), removed after each round.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const builds = process.argv.slice(2)
if (!builds.length) throw new Error('usage: node benchmark/linkfile-ab.mjs <dist/index.js>...')
const libs = await Promise.all(builds.map((b) => import(pathToFileURL(path.resolve(b)).href)))
const N = 40_000
const root = fs.mkdtempSync('/dev/shm/cachelink-linkfile-')
fs.mkdirSync(`${root}/src`)
for (let i = 0; i < 2000; i++) fs.writeFileSync(`${root}/src/${i}`, `x${i}`)

async function round (name, link) {
  const dest = `${root}/d`
  fs.mkdirSync(dest)
  let next = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < N) {
      const k = next++
      await link(`${root}/src/${k % 2000}`, `${dest}/${k}`)
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  const perSec = Math.round(N / (performance.now() - t0) * 1000)
  fs.rmSync(dest, { recursive: true })
  return perSec
}

const runs = { 'fs.promises.link': (s, d) => fs.promises.link(s, d) }
libs.forEach((lib, i) => {
  runs[`${builds[i]} linkFile`] = (s, d) => lib.linkFile(s, d)
  runs[`${builds[i]} linkFileSync`] = (s, d) => lib.linkFileSync(s, d)
})
const out = Object.fromEntries(Object.keys(runs).map((k) => [k, []]))
for (let r = 0; r < 5; r++) for (const [k, f] of Object.entries(runs)) out[k].push(await round(k, f))
fs.rmSync(root, { recursive: true })
for (const [k, v] of Object.entries(out)) {
  v.sort((a, b) => a - b)
  console.log(`${k.padEnd(60)} median ${v[2]} files/s, min ${v[0]}`)
}
