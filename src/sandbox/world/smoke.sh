#!/bin/sh
# Demo smoke test. Passes unless a line "component@version" or
# "component@version toggle=<on|off>" matching STAGECOACH_TOGGLE is in
# <sandbox>/world/smoke-fails. Reads STAGECOACH_ENV, _COMPONENT, _VERSION,
# _CLUSTER and _TOGGLE (set only when a feature toggle is tested).
dir="$(cd "$(dirname "$0")/.." && pwd)"
what="${STAGECOACH_COMPONENT}@${STAGECOACH_VERSION}"
toggle="${STAGECOACH_TOGGLE:-}"
with=""
[ -n "$toggle" ] && with=" with the toggle $toggle"
where="${STAGECOACH_CLUSTER:-?} (${STAGECOACH_ENV:-?})"
if [ -f "$dir/world/smoke-fails" ] && {
  grep -qxF "$what" "$dir/world/smoke-fails" ||
  { [ -n "$toggle" ] && grep -qxF "$what toggle=$toggle" "$dir/world/smoke-fails"; }
}; then
  echo "smoke: $what failed on $where$with: checkout returns 500" >&2
  exit 1
fi
echo "smoke: $what passed on $where$with"
