'use strict'
module.exports = require('./lib/greet.js')
