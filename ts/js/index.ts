/**
 * The JS backend: the `Native` interface (ts/native.ts, the addon's exports) implemented in
 * TypeScript over Node's fs, for where no native binary loads or `CACHELINK_BACKEND=js`. The
 * facade calls it exactly as it calls the addon: same arguments, same results, errors of the
 * same shape (`NativeError`), so argument checks and Node-shaped errors are shared and only the
 * engine is written twice. ts/js/README.md says how it is built and what Node cannot do.
 * @module
 */
import { getSystemErrorMap } from 'node:util'
import type * as Binding from '../binding.js'
import { ABI } from '../native.js'
import { Control } from './control.js'
import { linkFile, resetEntry } from './link.js'
import * as memo from './memo.js'
import { unpackFlags } from './method.js'
import { runAsync, runSliced, runSync } from './ops.js'
import { hostId } from './temp.js'
import { fsInfo } from './fsinfo.js'
import { probe } from './probe.js'
import { importFiles, importTree, PackageInstall } from './import.js'
import { clean, scan } from './scan.js'
import { verifyBackend } from './verify.js'

export const js = {
  ABI,
  Control: Control as unknown as typeof Binding.Control,
  linkFile: async (src, dest, flags, maxLinks) => runAsync(linkFile(src, dest, unpackFlags(flags, maxLinks))),
  linkFileSync: (src, dest, flags, maxLinks) => runSync(linkFile(src, dest, unpackFlags(flags, maxLinks))),
  resetEntry: async (path, hold) => runAsync(resetEntry(path, hold)),
  resetEntrySync: (path, hold) => runSync(resetEntry(path, hold)),
  clearFallbackMemo: () => memo.clear(),
  /** `[raw, name]` as the addon gives it: on Unix the errno, from libuv's own table. */
  errnoTable: () => [...getSystemErrorMap()].map(([errno, [name]]) => [process.platform === 'win32' ? errno : -errno, name]),
  hostId,
  importFiles: async (entries, into, o, control) => runSliced(importFiles(entries, into, o, control as unknown as Control)),
  importFilesSync: (entries, into, o, control) => runSync(importFiles(entries, into, o, control as unknown as Control)),
  PackageInstall: PackageInstall as unknown as typeof Binding.PackageInstall,
  importTree: async (src, into, o, control) => runSliced(importTree(src, into, o, control as unknown as Control)),
  importTreeSync: (src, into, o, control) => runSync(importTree(src, into, o, control as unknown as Control)),
  scan: async (root, near, control) => runSliced(scan(root, near, control as unknown as Control)),
  scanSync: (root, near, control) => runSync(scan(root, near, control as unknown as Control)),
  clean: async (root, older, dryRun, control) => runSliced(clean(root, older, dryRun, control as unknown as Control)),
  cleanSync: (root, older, dryRun, control) => runSync(clean(root, older, dryRun, control as unknown as Control)),
  fsInfo: async (path) => runAsync(fsInfo(path)),
  fsInfoSync: (path) => runSync(fsInfo(path)),
  probe: async (cache, target) => runAsync(probe(cache, target)),
  probeSync: (cache, target) => runSync(probe(cache, target)),
  ...verifyBackend,
} satisfies typeof Binding
