#!/bin/sh
# make install PREFIX=/dir [DESTDIR=...]: the daemon, bundled plugins and
# their UI, the SDK (headers, pkg-config file, make fragment, docs,
# template, examples), themes, example workflows, a default config whose
# paths point into the prefix, and a systemd unit.
set -eu
prefix=$1
build=$2
version=$3
cd "$(dirname "$0")/.."

bindir=$prefix/sbin
plugdir=$prefix/lib/atrium/plugins
share=$prefix/share/atrium
etc=$prefix/etc/atrium
state=$prefix/var/lib/atrium

install -d "$bindir" "$plugdir" "$prefix/include/atrium" \
	"$prefix/lib/pkgconfig" "$share/sdk" "$share/themes" \
	"$share/workflows" "$etc/workflows" "$state" \
	"$prefix/lib/systemd/system"
install -m 0755 "$build/atriumd" "$bindir/atriumd"
for so in "$build"/plugins/*.so; do
	[ -e "$so" ] || continue
	install -m 0644 "$so" "$plugdir/"
	name=$(basename "$so" .so)
	if [ -d "$build/plugins/$name/ui" ]; then
		rm -rf "$plugdir/$name/ui"
		install -d "$plugdir/$name"
		cp -r "$build/plugins/$name/ui" "$plugdir/$name/ui"
	fi
done
install -m 0644 sdk/include/atrium/*.h "$prefix/include/atrium/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" sdk/atrium-sdk.pc.in \
	>"$prefix/lib/pkgconfig/atrium-sdk.pc"
install -m 0644 sdk/atrium-plugin.mk sdk/README.md sdk/ABI.md "$share/sdk/"
rm -rf "$share/sdk/template" "$share/sdk/examples" "$share/themes"
cp -r sdk/template sdk/examples "$share/sdk/"
install -d "$share/themes"
cp -r themes/. "$share/themes/"
for f in config/workflows/*.lua; do
	[ -e "$f" ] || continue
	install -m 0644 "$f" "$share/workflows/"
	[ -e "$etc/workflows/$(basename "$f")" ] ||
		install -m 0644 "$f" "$etc/workflows/"
done
if [ ! -e "$etc/atrium.ini" ]; then
	sed -e "s|^themes_dir = .*|themes_dir = $share/themes|" \
	    -e "s|^plugin_dir = .*|plugin_dir = $plugdir|" \
	    -e "s|^path = atrium.db|path = $state/atrium.db|" \
	    -e "s|^dir = config/workflows|dir = $etc/workflows|" \
	    config/atrium.ini >"$etc/atrium.ini"
fi
sed -e "s|@PREFIX@|$prefix|g" config/atriumd.service.in \
	>"$prefix/lib/systemd/system/atriumd.service"
echo "installed atrium $version into $prefix"
