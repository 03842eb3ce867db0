#!/usr/bin/env node
// check.cjs parses every PowerShell file named on the command line with the
// tree-sitter PowerShell grammar (WebAssembly build shipped in the npm package)
// and exits 1 when any file has an ERROR or MISSING node, printing each with
// its line and column. Exit 2: the tooling itself is unusable.
'use strict';
// Baseline-compile the grammar's WebAssembly only: optimising its 1 MB parse tables costs
// seconds of CPU for a run that parses a few kilobytes.
require('v8').setFlagsFromString('--liftoff-only');
const fs = require('fs');

async function main(files) {
  let ts;
  try {
    ts = require('web-tree-sitter');
  } catch (e) {
    console.error('psparse: web-tree-sitter is not installed: run `npm ci` in ' + __dirname);
    process.exit(2);
  }
  const { Parser, Language } = ts;
  await Parser.init();
  let wasm;
  try {
    wasm = require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
  } catch (e) {
    console.error('psparse: tree-sitter-powershell is not installed: run `npm ci` in ' + __dirname);
    process.exit(2);
  }
  const lang = await Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(lang);
  let bad = 0;
  for (const file of files) {
    const src = fs.readFileSync(file, 'utf8');
    const tree = parser.parse(src);
    const problems = [];
    const walk = (node) => {
      if (node.isError || node.isMissing) {
        const kind = node.isMissing ? 'MISSING ' + node.type : 'ERROR';
        problems.push(`${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${kind} near ${JSON.stringify(node.text.slice(0, 40))}`);
        if (node.isError) return;
      }
      if (!node.hasError && !node.isMissing) return;
      for (let i = 0; i < node.childCount; i++) walk(node.child(i));
    };
    walk(tree.rootNode);
    if (tree.rootNode.hasError && problems.length === 0) problems.push(`${file}: parse error`);
    if (problems.length > 0) {
      bad++;
      for (const p of problems) console.log(p);
    } else {
      console.log(`${file}: ok`);
    }
  }
  process.exit(bad > 0 ? 1 : 0);
}

main(process.argv.slice(2)).catch((e) => {
  console.error('psparse: ' + (e && e.stack ? e.stack : e));
  process.exit(2);
});
