# Shared by docker/prepare-engine.sh and docker/teardown-engine.sh (sourced, not run).
# shellcheck shell=bash

STATE=${CHECKLIST_DOCKER_STATE:-/tmp/checklist-docker}
SOCKET=$STATE/docker.sock
HOST=unix://$SOCKET
SCRIPT=$(basename "$0" .sh)

say() { echo "$SCRIPT: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

docker_cli() {
    # docker.io's own client matches its dockerd; any other negotiates the API version down.
    if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi
}

answers() { [ -n "${DOCKER:-}" ] && "$DOCKER" -H "$HOST" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

cmdline_of() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline"; }

recorded_pid() {
    # The dockerd prepare-engine.sh started, if it still runs: a recycled pid is someone else's process.
    local pid cmdline
    pid=$(cat "$STATE/dockerd.pid" 2>/dev/null) && [ -n "$pid" ] || return 1
    cmdline=$(cmdline_of "$pid") || return 1
    [[ $cmdline == *"--exec-root $STATE/exec "* ]] && alive "$pid" || return 1
    echo "$pid"
}

engine_processes() {
    # What this engine runs (dockerd, its containerd, the containers' shims): their command lines name its
    # exec root, which no other process does.
    local dir cmdline
    for dir in /proc/[0-9]*; do
        cmdline=$(cmdline_of "${dir#/proc/}") || continue
        [[ $cmdline == *"$STATE/exec"* ]] && echo "${dir#/proc/}"
    done
    return 0
}

unmount_leftovers() {
    # A dockerd that did not clean up leaves its network namespace (and overlay) mounts in the state dir.
    local mount
    for mount in $(awk -v prefix="$STATE/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$mount" 2>/dev/null || umount -l "$mount" || true
    done
}

alive() {
    # Running, not a zombie: an orphan's exit status may wait a while for init to collect it.
    local state
    state=$(awk '$1 == "State:" { print $2 }' 2>/dev/null </proc/"$1"/status) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

descendants() {
    # descendants PID...: every process below the given ones (the processes inside a container, for its shim).
    cat /proc/[0-9]*/status 2>/dev/null | awk -v roots="$*" '
        BEGIN { n = split(roots, list, " "); for (i = 1; i <= n; i++) below[list[i]] = 0 }
        $1 == "Pid:" { pid = $2 }
        $1 == "PPid:" { parent[pid] = $2 }
        END {
            do {
                grew = 0
                for (p in parent) if (!(p in below) && (parent[p] in below)) { below[p] = 1; grew = 1 }
            } while (grew)
            for (p in below) if (below[p]) print p
        }'
}

wait_gone() {
    # wait_gone PID SECONDS: poll until the process is gone.
    local deadline=$((SECONDS + $2))
    while alive "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
