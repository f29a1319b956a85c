// Runs @asyncapi/diff on pairs of (dereferenced) AsyncAPI documents for devstack/contract_check.py.
// Input (file named by argv[2]): {"override": {...}, "pairs": [{"name": ..., "old": {...}, "new": {...}}]}
// Output (stdout): {"<name>": [{"action", "path", "type", "before", "after"}, ...]}
"use strict";
const fs = require("fs");
const { diff } = require("@asyncapi/diff");

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const result = {};
for (const pair of input.pairs) {
  const output = diff(pair.old, pair.new, { override: input.override, outputType: "json" });
  result[pair.name] = output.getOutput().changes;
}
process.stdout.write(JSON.stringify(result));
