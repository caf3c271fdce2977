#!/usr/bin/env bash
# Installs the Debian 12 packages that ttc's build, tests, fuzzing and
# benchmarks need. Idempotent: does nothing when every package is present.
# Needs root (apt-get) only when something is missing.
set -eu
pkgs="gcc make pkg-config libcriterion-dev libjansson-dev libpcre2-dev
      libmicrohttpd-dev libcurl4-openssl-dev libopenblas-dev
      clang libclang-rt-14-dev"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
  echo "setup: need root to install:$missing (run: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
