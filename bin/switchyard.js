#!/usr/bin/env node
'use strict';
// Switchyard CLI: migrations, export/import, verify. Runs the compiled code (npm run build).
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'dist', 'apps', 'api', 'src', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write('switchyard: not built yet; run `npm run build` first\n');
  process.exit(1);
}
require(cli).run();
