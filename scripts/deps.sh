#!/bin/sh
# Installs what Atrium needs from Debian's packages (and npm for the browser
# tests). Usage: deps.sh [run|test]. As root it runs apt-get; otherwise it
# prints the exact command to run and stops.
set -eu
profile=${1:-run}
cd "$(dirname "$0")/.."

run_pkgs="build-essential pkg-config sqlite3 libmicrohttpd-dev libsqlite3-dev
libinih-dev libjansson-dev liblua5.4-dev libsodium-dev liboath-dev
libqrencode-dev libcrack2-dev cracklib-runtime libcurl4-openssl-dev
libgnutls28-dev ca-certificates"
test_pkgs="libcmocka-dev clang libclang-rt-dev nodejs npm chromium
fonts-dejavu-core python3 python3-aiosmtpd openssl wrk curl"

pkgs=$run_pkgs
[ "$profile" = test ] && pkgs="$run_pkgs $test_pkgs"

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
# A Node.js from elsewhere (e.g. nodesource) is fine if node and npm run.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs || true)

if [ -n "$missing" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "deps: installing $missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		# shellcheck disable=SC2086
		apt-get install -y -q --no-install-recommends $missing
	else
		echo "deps: these Debian packages are missing:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $missing" >&2
		exit 1
	fi
fi

if [ "$profile" = test ] && [ -f package-lock.json ]; then
	if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
		npm ci --no-audit --no-fund --loglevel=error
		touch node_modules
	fi
fi
