#!/usr/bin/env bash
# Refresh fixtures/webhook-schemas/ from GitHub's published webhook JSON schemas,
# the public npm package @octokit/webhooks-schemas (MIT, https://github.com/octokit/webhooks).
#
# Keeps, from its `schema.json` (JSON Schema draft-07, one definition per event and
# action, e.g. `pull_request$opened`, `push$event`), the definitions of every action
# of the events the sandbox sends, and every definition they reach through `$ref`,
# unchanged. tests/sandbox_webhook_schemas.rs validates the sandbox's deliveries
# against them. Needs npm and node. Usage: scripts/refresh-webhook-schemas.sh [VERSION]
set -euo pipefail

version="${1:-7.6.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/fixtures/webhook-schemas"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "@octokit/webhooks-schemas@$version" >/dev/null && tar xzf ./*.tgz)
mkdir -p "$out"

node - "$work/package/schema.json" "$out/schema.json" "$version" <<'JS'
const fs = require("fs");
const [source, target, version] = process.argv.slice(2);
const schema = JSON.parse(fs.readFileSync(source, "utf8"));
// The events the sandbox sends (src/sandbox: pulls.rs, issues.rs, repos.rs, watch.rs).
const events = ["pull_request", "pull_request_review", "issue_comment", "push", "create",
                "release", "status", "ping"];
const roots = Object.keys(schema.definitions)
  .filter((name) => events.includes(name.split("$")[0]));
const keep = new Set();
const walk = (node) => {
  if (Array.isArray(node)) return node.forEach(walk);
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (key === "$ref" && typeof value === "string" && value.startsWith("#/definitions/")) {
      const name = value.slice("#/definitions/".length);
      if (!keep.has(name)) {
        keep.add(name);
        walk(schema.definitions[name]);
      }
    } else {
      walk(value);
    }
  }
};
for (const root of roots) {
  keep.add(root);
  walk(schema.definitions[root]);
}
const definitions = {};
for (const name of [...keep].sort()) definitions[name] = schema.definitions[name];
const kept = {
  $schema: schema.$schema,
  $comment: `@octokit/webhooks-schemas ${version}: the events the sandbox sends, and what they reference`,
  definitions,
};
fs.writeFileSync(target, JSON.stringify(kept) + "\n");
console.log(`fixtures/webhook-schemas: ${roots.length} event schemas, ${keep.size} definitions from @octokit/webhooks-schemas ${version}`);
JS
echo "$version" > "$out/VERSION"
