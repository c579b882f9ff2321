#!/usr/bin/env bash
# Installs the Debian 12 packages Crieur needs to build, run and test, when
# some are missing. As root it runs apt-get; as a normal user it uses sudo.
set -euo pipefail
PKGS=(
    build-essential cmake pkg-config git ca-certificates curl jq python3 procps iproute2
    libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libpq-dev
    libsodium-dev libjansson-dev libmicrohttpd-dev libcmocka-dev
    postgresql-15 postgresql-client-15 wrk python3-aiosmtpd
)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PKGS[@]} packages present"
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=(sudo); else
        echo "deps: missing packages (${missing[*]}) and not root and no sudo: install them as root with" >&2
        echo "  apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
