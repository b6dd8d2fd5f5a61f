#!/usr/bin/env bash
# Refresh fixtures/webhooks/ from the public @octokit/webhooks-examples npm package:
# GitHub's own recorded webhook payloads, contributed and checked by the Octokit project.
#
# Keeps up to two examples of every action of the events the bot reads (plus a few it
# ignores, to prove they are ignored), one file each: <event>.<action>[.<n>].json, or
# <event>[.<n>].json for events without an action. Usage: scripts/refresh-webhook-fixtures.sh [VERSION]
set -euo pipefail

version="${1:-7.6.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/fixtures/webhooks"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "@octokit/webhooks-examples@$version" >/dev/null && tar xzf ./*.tgz)

find "$out" -name '*.json' -delete
mkdir -p "$out"

node - "$work/package/api.github.com/index.json" "$out" <<'JS'
const fs = require("fs");
const [index, out] = process.argv.slice(2);
// What the bot reads, and a few events and actions it ignores.
const read = ["pull_request", "pull_request_review", "issue_comment", "push", "create",
              "release", "status", "check_run"];
const ignored = ["ping", "issues", "star"];
const perAction = 2;
const seen = new Map();
for (const event of JSON.parse(fs.readFileSync(index, "utf8"))) {
  if (!read.includes(event.name) && !ignored.includes(event.name)) continue;
  for (const example of event.examples) {
    const key = example.action ? `${event.name}.${example.action}` : event.name;
    const n = (seen.get(key) || 0) + 1;
    seen.set(key, n);
    if (n > perAction || (ignored.includes(event.name) && n > 1)) continue;
    const file = n === 1 ? `${key}.json` : `${key}.${n}.json`;
    fs.writeFileSync(`${out}/${file}`, JSON.stringify(example, null, 2) + "\n");
  }
}
JS

cat > "$out/README.md" <<MD
# Webhook fixtures

GitHub's own example webhook payloads, from the public npm package
\`@octokit/webhooks-examples@$version\` (MIT, https://github.com/octokit/webhooks),
file \`api.github.com/index.json\`. Regenerate with \`scripts/refresh-webhook-fixtures.sh\`.

One payload a file, named \`<event>.<action>[.<n>].json\` (\`<event>[.<n>].json\` for events
without an action); the first dot-separated part is the \`X-GitHub-Event\` header it is sent with.
\`ping\`, \`issues\` and \`star\` are here to prove the bot ignores what it does not read.
MD
echo "wrote $(find "$out" -name '*.json' | wc -l) fixtures to $out"
