#!/usr/bin/env bash
# Stop the engine docker/prepare-engine.sh started and check that nothing of it is left.
#
#   docker/teardown-engine.sh           # keeps the image store, so the next prepare builds nothing
#   docker/teardown-engine.sh --purge   # deletes the state directory too (images included)
#
# Idempotent: removes the containers testcontainers labelled (org.testcontainers=true), stops dockerd by its
# recorded pid and waits for it to exit, stops whatever it left (processes naming its exec root), unmounts
# its leftovers, and fails when a dockerd, a container shim or a docker0 interface it made is still there.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=docker/engine-lib.sh
source "$ROOT/docker/engine-lib.sh"

PURGE=no
case "${1:-}" in
"") ;;
--purge) PURGE=yes ;;
*) die "usage: $0 [--purge]" ;;
esac

DOCKER=$(docker_cli) || DOCKER=""

if pid=$(recorded_pid); then
    if answers; then
        ids=$("$DOCKER" -H "$HOST" ps -aq --filter label=org.testcontainers=true)
        if [ -n "$ids" ]; then
            say "removing containers $(echo "$ids" | tr '\n' ' ')"
            # shellcheck disable=SC2086  # one id per word
            "$DOCKER" -H "$HOST" rm -f -v $ids >/dev/null
        fi
    fi
    say "stopping dockerd $pid"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 30; then
        say "dockerd $pid still runs after 30s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || die "dockerd $pid does not exit"
    fi
fi

# A dockerd that was killed leaves its containerd and the containers' shims, and the containers' processes
# under them: stop the containers' processes first (throw-away databases), then the engine's, by pid.
leftovers=$(engine_processes)
if [ -n "$leftovers" ]; then
    # shellcheck disable=SC2086  # one pid per word
    inside=$(descendants $leftovers)
    say "stopping leftover engine processes $(echo $leftovers) and the processes they run: $(echo $inside)"
    for pid in $inside; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in $leftovers; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $inside $leftovers; do wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true; done
fi

unmount_leftovers
rm -f "$SOCKET" "$STATE/dockerd.pid" "$STATE/env"
if [ -e /sys/class/net/docker0 ] && [ "$(cat "$STATE/docker0-before" 2>/dev/null || echo no)" != yes ]; then
    die "a docker0 interface exists that was not there before prepare-engine.sh"
fi
if [ "$PURGE" = yes ]; then
    case "$STATE" in /tmp/?* | /var/tmp/?* | "$HOME"/?*) rm -rf "$STATE" ;; *) die "--purge: refusing to delete $STATE" ;; esac
fi

remaining=$(engine_processes)
[ -z "$remaining" ] || die "engine processes still running: $(echo "$remaining" | tr '\n' ' ')"
say "no engine running for $STATE"
