#!/bin/sh
# Demo health check. Healthy unless a line "component@version" is in
# <sandbox>/world/unhealthy. A line in <sandbox>/world/slow holds the check
# until it is removed (a slow rollout). Reads STAGECOACH_ENV, _COMPONENT,
# _VERSION, _CLUSTER.
dir="$(cd "$(dirname "$0")/.." && pwd)"
what="${STAGECOACH_COMPONENT}@${STAGECOACH_VERSION}"
where="${STAGECOACH_CLUSTER:-?} (${STAGECOACH_ENV:-?})"
while [ -f "$dir/world/slow" ] && grep -qxF "$what" "$dir/world/slow"; do
  sleep 0.1
done
if [ -f "$dir/world/unhealthy" ] && grep -qxF "$what" "$dir/world/unhealthy"; then
  echo "health: $what is unhealthy on $where: pods crash-looping" >&2
  exit 1
fi
echo "health: $what is healthy on $where"
