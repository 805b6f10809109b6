#!/bin/sh
# Builds the fetchd .deb: stages the working tree (without build/, run/, .git) in
# build/deb/fetchd-<version>/, puts packaging/debian there as debian/ together with the unit files
# and the sysusers/tmpfiles snippets from packaging/, and runs dpkg-buildpackage -b -us -uc.
# The .deb lands in build/deb/. Needs: debhelper (>= 13.1 for dh_installsysusers) and the
# Build-Depends of packaging/debian/control (`apt-get build-dep ./build/deb/fetchd-*` or see there).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n '1s/^fetchd (\([^)]*\)).*/\1/p' "$root/packaging/debian/changelog")
out=$root/build/deb
src=$out/fetchd-$version

rm -rf "$src"
mkdir -p "$src"
# The working tree as it is, without build output, the local run directory and git's metadata.
tar -C "$root" --exclude=./build --exclude=./run --exclude=./.git --exclude=./debian -cf - . |
  tar -C "$src" -xf -
rm -rf "$src/debian"
cp -r "$root/packaging/debian" "$src/debian"
for f in fetchd.service fetchd.socket fetchd.sysusers fetchd.tmpfiles; do
  cp "$root/packaging/$f" "$src/debian/$f"
done
# This directory's README (files, decisions, usage) becomes /usr/share/doc/fetchd/README.Debian.
cp "$root/packaging/README.md" "$src/debian/README.Debian"

cd "$src"
dpkg-buildpackage -b -us -uc "$@"
ls -l "$out"/*.deb
