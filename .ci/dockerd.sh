# shellcheck shell=bash
# A docker daemon for the docker tests (sourced by .ci/run, not run):
#
#   dockerd_start [DOCKERD_ARGS...]   when `docker info` fails, start dockerd in the
#                                     background (log in a temporary file) and wait up to
#                                     $dockerd_wait seconds (default 60) until `docker info`
#                                     answers; when it answers already, use that daemon
#   dockerd_stop                      stop the dockerd that dockerd_start started, if any,
#                                     and wait for it; a daemon that was already running is
#                                     left alone
#
# `docker info` asks the daemon DOCKER_HOST names (the default socket when unset). To try
# this beside a running daemon, point DOCKER_HOST at another socket, give dockerd that
# socket and its own directories (-H, --data-root, --exec-root, --pidfile), and run it all
# under `unshare --net`: a second dockerd in the host's network namespace takes the host's
# docker0 bridge for its own, and with `--bridge none` deletes it (`ip netns exec` does not
# do either: it remounts /sys, and dockerd then finds no cgroups).

dockerd_pid=
dockerd_log=

# Running, not a zombie waiting for this shell to reap it (kill -0 succeeds on those).
dockerd_alive() {
    local stat
    stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${stat%% *}" != Z ]
}

dockerd_start() {
    if docker info >/dev/null 2>&1; then
        echo "dockerd: a daemon answers already (${DOCKER_HOST:-the default socket}); using it, and leaving it running" >&2
        return 0
    fi
    if ! command -v dockerd >/dev/null; then
        echo "dockerd: no daemon answers and dockerd is not installed (Debian: docker.io)" >&2
        return 1
    fi
    dockerd_log=$(mktemp /tmp/portwho-ci-dockerd.XXXXXX)
    dockerd "$@" </dev/null >"$dockerd_log" 2>&1 &
    dockerd_pid=$!
    echo "dockerd: started pid $dockerd_pid, log in $dockerd_log" >&2
    local started=$SECONDS deadline=$((SECONDS + ${dockerd_wait:-60}))
    until docker info >/dev/null 2>&1; do
        if ! dockerd_alive "$dockerd_pid"; then
            local status=0
            wait "$dockerd_pid" || status=$?
            dockerd_pid=
            echo "dockerd: exited with status $status before it answered; the end of its log:" >&2
            tail -n 30 "$dockerd_log" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "dockerd: does not answer after ${dockerd_wait:-60} s; the end of its log:" >&2
            tail -n 30 "$dockerd_log" >&2
            dockerd_stop
            return 1
        fi
        sleep 0.5
    done
    echo "dockerd: answers after $((SECONDS - started)) s" >&2
}

dockerd_stop() {
    [ -n "$dockerd_pid" ] || return 0
    local pid=$dockerd_pid
    dockerd_pid=
    # dockerd stops its containers and its containerd on SIGTERM; SIGKILL after 30 s.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while dockerd_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
    done
    if dockerd_alive "$pid"; then
        echo "dockerd: pid $pid still runs 30 s after SIGTERM; SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    local status=0
    wait "$pid" 2>/dev/null || status=$?
    echo "dockerd: stopped pid $pid (status $status); its log: $dockerd_log" >&2
}
