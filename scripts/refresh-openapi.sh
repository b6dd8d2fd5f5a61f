#!/bin/sh
# Refresh fixtures/openapi/ from GitHub's official OpenAPI description, as
# published in the npm package @octokit/openapi: for each endpoint the sandbox
# serves, the JSON schema of its success answer (and the common error bodies),
# with every $ref resolved and OpenAPI 3.0's `nullable` turned into JSON
# Schema's `type: [..., "null"]`, so a plain JSON Schema validator can check
# the sandbox's answers (tests/sandbox_contract.rs).
# Needs: npm, python3. Usage: scripts/refresh-openapi.sh [version]
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/fixtures/openapi"
version="${1:-latest}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack "@octokit/openapi@$version" >/dev/null 2>&1
tar xzf octokit-openapi-*.tgz
python3 - "$work/package" "$out" <<'PY'
import json, os, sys

pkg, out = sys.argv[1], sys.argv[2]
spec = json.load(open(os.path.join(pkg, "generated", "api.github.com.json")))
version = json.load(open(os.path.join(pkg, "package.json")))["version"]

# fixture name -> (method, path, status)
ENDPOINTS = {
    "user": ("get", "/user", "200"),
    "repo": ("get", "/repos/{owner}/{repo}", "200"),
    "pulls-list": ("get", "/repos/{owner}/{repo}/pulls", "200"),
    "pull": ("get", "/repos/{owner}/{repo}/pulls/{pull_number}", "200"),
    "pull-create": ("post", "/repos/{owner}/{repo}/pulls", "201"),
    "pull-update": ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}", "200"),
    "pull-merge": ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", "200"),
    "pull-commits": ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits", "200"),
    "reviews-list": ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "200"),
    "review-create": ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "200"),
    "comments-list": ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "200"),
    "comment-create": ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "201"),
    "comment-update": ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "200"),
    "labels-list": ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels", "200"),
    "labels-add": ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels", "200"),
    "label-remove": ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", "200"),
    "issue-events": ("get", "/repos/{owner}/{repo}/issues/{issue_number}/events", "200"),
    "status-create": ("post", "/repos/{owner}/{repo}/statuses/{sha}", "201"),
    "combined-status": ("get", "/repos/{owner}/{repo}/commits/{ref}/status", "200"),
    "statuses-list": ("get", "/repos/{owner}/{repo}/commits/{ref}/statuses", "200"),
    "collaborator-permission": ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission", "200"),
    "team-membership": ("get", "/orgs/{org}/teams/{team_slug}/memberships/{username}", "200"),
    "releases-list": ("get", "/repos/{owner}/{repo}/releases", "200"),
    "release-create": ("post", "/repos/{owner}/{repo}/releases", "201"),
    "release-update": ("patch", "/repos/{owner}/{repo}/releases/{release_id}", "200"),
    "release-by-tag": ("get", "/repos/{owner}/{repo}/releases/tags/{tag}", "200"),
    "tags": ("get", "/repos/{owner}/{repo}/tags", "200"),
    "git-ref": ("get", "/repos/{owner}/{repo}/git/ref/{ref}", "200"),
    "branch": ("get", "/repos/{owner}/{repo}/branches/{branch}", "200"),
}
ERRORS = {"basic-error": "basic-error", "validation-error": "validation-error"}

def resolve(node, seen=()):
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:  # a cycle: accept anything below this point
                return {}
            target = spec
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            return resolve(target, seen + (ref,))
        node = {k: resolve(v, seen) for k, v in node.items()
                if k not in ("example", "examples", "description", "summary")}
        if node.pop("nullable", False):
            t = node.get("type")
            if isinstance(t, str):
                node["type"] = [t, "null"]
            elif "type" not in node:
                node = {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [resolve(v, seen) for v in node]
    return node

os.makedirs(out, exist_ok=True)
for name, (method, path, status) in ENDPOINTS.items():
    resp = resolve(spec["paths"][path][method]["responses"][status])
    schema = resp["content"]["application/json"]["schema"]
    doc = {"$comment": f"@octokit/openapi {version}: {method.upper()} {path} -> {status}", **schema}
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(doc, f, sort_keys=True, separators=(",", ":"))
for name, comp in ERRORS.items():
    schema = resolve(spec["components"]["schemas"][comp])
    doc = {"$comment": f"@octokit/openapi {version}: components/schemas/{comp}", **schema}
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(doc, f, sort_keys=True, separators=(",", ":"))
with open(os.path.join(out, "VERSION"), "w") as f:
    f.write(version + "\n")
print(f"fixtures/openapi: {len(ENDPOINTS) + len(ERRORS)} schemas from @octokit/openapi {version}")
PY
