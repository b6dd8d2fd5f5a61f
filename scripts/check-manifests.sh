#!/usr/bin/env bash
# Renders the Kubernetes manifests (the kustomize base and the GitHub App overlay) with
# Debian's kubectl and validates every object against the Kubernetes API schemas, strictly
# (an unknown or misspelt field is an error), for the oldest and newest Kubernetes we name.
#
# Env: KUBECTL              a kubectl to use instead of Debian's kubernetes-client
#      STAGECOACH_CI_TOOLS  where .ci/run put the tools (default target/ci-tools)
# Offline: kubernetes-validate carries its schemas.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${STAGECOACH_CI_TOOLS:-target/ci-tools}
out=target/ci-manifests
kubernetes_versions=(1.29.0 1.37.0)
overlays=(deploy/kubernetes/base deploy/kubernetes/github-app)  # and the README example, below

fail() {
  printf 'check-manifests: FAIL: %s\n' "$*" >&2
  exit 1
}
say() { printf 'check-manifests: %s\n' "$*"; }

# Debian's kubectl: installed, or unpacked by .ci/run where another package (e.g. Google
# Cloud's `kubectl`) already owns /usr/bin/kubectl.
kubectl=${KUBECTL:-}
if [ -z "$kubectl" ]; then
  if [ "$(dpkg-query -W -f='${db:Status-Status}' kubernetes-client 2>/dev/null)" = installed ]; then
    kubectl=/usr/bin/kubectl
  elif [ -x "$tools/kubernetes-client/usr/bin/kubectl" ]; then
    kubectl=$tools/kubernetes-client/usr/bin/kubectl
  else
    fail "Debian's kubectl not found: apt-get install kubernetes-client, or where another package owns /usr/bin/kubectl: apt-get download kubernetes-client && dpkg-deb -x kubernetes-client_*.deb $tools/kubernetes-client (.ci/run does)"
  fi
fi
venv=$tools/venv
pinned=$(sed -n 's/^kubernetes-validate==//p' deploy/ci-requirements.txt)
[ -x "$venv/bin/kubernetes-validate" ] ||
  fail "kubernetes-validate not found: python3 -m venv $venv && $venv/bin/pip install -r deploy/ci-requirements.txt (.ci/run does)"
have=$("$venv/bin/kubernetes-validate" --version)
[ "$have" = "$pinned" ] ||
  fail "kubernetes-validate is $have, deploy/ci-requirements.txt pins $pinned: $venv/bin/pip install -r deploy/ci-requirements.txt"

mkdir -p "$out"
validate() {
  local file=$1 v
  for v in "${kubernetes_versions[@]}"; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "$file" || return 1
  done
}

# The README's own-overlay example, as written there, next to a copy of the repo's deploy/.
readme_overlay=$out/readme/my-stagecoach
rm -rf "$out/readme"
mkdir -p "$readme_overlay"
ln -s "$PWD/deploy" "$out/readme/deploy"
awk '/^# my-stagecoach\/kustomization.yaml$/ { on = 1; next } on && /^```/ { exit } on' README.md \
  >"$readme_overlay/kustomization.yaml"
[ -s "$readme_overlay/kustomization.yaml" ] || fail "README.md: no \`# my-stagecoach/kustomization.yaml\` example found"
cp deploy/kubernetes/github-app/stagecoach.yaml "$readme_overlay/"
overlays+=("$readme_overlay")

for dir in "${overlays[@]}"; do
  rendered=$out/$(basename "$dir").yaml
  "$kubectl" kustomize "$dir" >"$rendered" 2>"$out/kustomize.err" ||
    fail "kubectl kustomize $dir: $(tr '\n' ' ' <"$out/kustomize.err")"
  validate "$rendered" || fail "$rendered (from $dir) does not match the Kubernetes schemas (above)"
  # What the schemas cannot say: every object lands in the namespace the Secret is created
  # in (kustomize v2 once dropped it from a replaced ConfigMap), and no Secret is rendered:
  # secrets are created by hand, never kept in the repo.
  "$venv/bin/python" - "$rendered" <<'PY' || fail "$rendered (from $dir): see above"
import sys, yaml
path = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
kinds = sorted(d["kind"] for d in docs)
bad = [f"{d['kind']}/{d['metadata']['name']} is in namespace {d['metadata'].get('namespace')!r}, expected 'stagecoach'"
       for d in docs if d["metadata"].get("namespace") != "stagecoach"]
bad += [f"{d['kind']}/{d['metadata']['name']}: a Secret must not be in the manifests" for d in docs if d["kind"] == "Secret"]
if kinds != ["ConfigMap", "Deployment", "Service", "ServiceAccount"]:
    bad.append(f"objects are {kinds}, expected ConfigMap, Deployment, Service, ServiceAccount")
else:
    # The config's ConfigMap carries a content hash, so a changed stagecoach.yaml rolls the pod.
    cm = next(d for d in docs if d["kind"] == "ConfigMap")["metadata"]["name"]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    used = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v]
    if not cm.startswith("stagecoach-config-") or used != [cm]:
        bad.append(f"the Deployment mounts ConfigMap {used}, expected the generated {cm!r} (stagecoach-config-<hash>)")
    if "my-stagecoach" in path and pod["containers"][0]["image"] != "registry.example.com/stagecoach:0.1.0":
        bad.append(f"image is {pod['containers'][0]['image']!r}, expected the README's registry.example.com/stagecoach:0.1.0")
for line in bad:
    print(f"check-manifests: {path}: {line}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  say "$dir renders ($(grep -c '^kind:' "$rendered") objects) and validates against Kubernetes ${kubernetes_versions[*]}"
done

# The validator must be able to say no: the same Deployment with one field misspelt fails.
sed 's/^  replicas: 1$/  replica: 1/' "$out/base.yaml" >"$out/misspelt.yaml"
cmp -s "$out/base.yaml" "$out/misspelt.yaml" && fail "self-check: no 'replicas: 1' to misspell in $out/base.yaml"
if validate "$out/misspelt.yaml" >/dev/null 2>&1; then
  fail "self-check: kubernetes-validate accepted a Deployment with 'replica:' — it is not validating"
fi
say "ok: the validator refuses a misspelt field, and every manifest passes it"
