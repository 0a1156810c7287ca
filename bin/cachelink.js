#!/usr/bin/env node
// The `cachelink` command (ts/cli/main.ts, built to dist/cli.js).
import '../dist/cli.js'
