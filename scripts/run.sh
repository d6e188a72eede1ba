#!/bin/sh
# make run: seed the demo practice (only into an empty database) and start
# the portal on the address in config/atrium.ini (127.0.0.1:8080).
set -eu
cd "$(dirname "$0")/.."
cfg=${ATRIUM_CONFIG:-config/atrium.ini}
build=${BUILD:-build}
"$build/atriumd" --config "$cfg" --init-demo
echo "Demo accounts are listed in README.md (admin.demo needs the TOTP secret there)."
echo "Open http://127.0.0.1:8080/ - stop with Ctrl-C."
exec "$build/atriumd" --config "$cfg"
