#!/bin/sh
# Demo health check. Healthy unless a line "component@version" is in
# <sandbox>/world/unhealthy. Reads STAGECOACH_ENV, _COMPONENT, _VERSION, _CLUSTER.
dir="$(cd "$(dirname "$0")/.." && pwd)"
what="${STAGECOACH_COMPONENT}@${STAGECOACH_VERSION}"
where="${STAGECOACH_CLUSTER:-?} (${STAGECOACH_ENV:-?})"
if [ -f "$dir/world/unhealthy" ] && grep -qxF "$what" "$dir/world/unhealthy"; then
  echo "health: $what is unhealthy on $where: pods crash-looping" >&2
  exit 1
fi
echo "health: $what is healthy on $where"
