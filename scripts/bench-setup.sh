#!/usr/bin/env bash
# Installs what `npm run bench` measures against (pgbouncer, nginx, wrk, redis, twemproxy, sysbench) when missing. Packages only:
# the bench starts its own pgbouncer, nginx, redis-server and nutcracker on loopback ports with generated configs; no
# system service is enabled or touched.
set -euo pipefail

need=()
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-contrib)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || need+=(pgbouncer)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/sbin/nutcracker ] || command -v nutcracker >/dev/null 2>&1 || need+=(nutcracker)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)

if [ ${#need[@]} -eq 0 ]; then
  echo "bench-setup: pgbench, pgbouncer, nginx, wrk, redis, nutcracker and sysbench are installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "bench-setup: installing ${need[*]}"
$SUDO apt-get update -qq
# policy-rc.d 101 keeps the packages' maintainer scripts from starting the system pgbouncer/nginx/redis services.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  created_policy=1
fi
trap '[ "$created_policy" -eq 1 ] && $SUDO rm -f "$POLICY"' EXIT
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
echo "bench-setup: done"
