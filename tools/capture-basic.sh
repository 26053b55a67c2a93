#!/usr/bin/env bash
# Recapture fixtures/linux/basic in a private network namespace (run as root from the
# repo root: unshare -n bash tools/capture-basic.sh), so only the scenario's sockets appear.
tmp=$(mktemp -d)
set -e
ip link set lo up
python3 tools/fixture-scenario.py > "$tmp/scen.out" &
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket,time,os
u=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(("::1",0)); print(os.getpid(), u.getsockname()[1], flush=True); time.sleep(600)' > "$tmp/nobody.out" &
sleep 1.5
read P C PORT < "$tmp/scen.out"; read NP NPORT < "$tmp/nobody.out"
python3 tools/capture-fixture.py fixtures/linux/basic $P $C $NP
kill $P $C $NP
