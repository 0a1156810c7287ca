#!/usr/bin/env node
'use strict'
console.log(require('../index.js')(process.argv[2] || 'world'))
