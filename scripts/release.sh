#!/usr/bin/env bash
# Builds oat's release archives into dist/: a static binary (CGO_ENABLED=0,
# so it runs on old air-gapped servers whatever their C library) for each
# platform below, with README.md, and SHA256SUMS over the archives.
# Usage: scripts/release.sh [VERSION]   (default: git describe)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
platforms="linux/amd64 linux/arm64 windows/amd64 darwin/arm64"
# Archives are reproducible: file times are the commit's, owners are 0.
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
rm -rf dist
mkdir -p dist
for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  name=oat-$version-$os-$arch
  stage=dist/$name
  mkdir -p "$stage"
  exe=oat
  [ "$os" = windows ] && exe=oat.exe
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=auto -ldflags='-s -w' -o "$stage/$exe" .
  # Static: the build must not have used cgo (no libc to match on the server).
  if ! go version -m "$stage/$exe" | grep -q 'CGO_ENABLED=0'; then
    echo "release: $name was not built with CGO_ENABLED=0" >&2
    exit 1
  fi
  cp README.md "$stage/"
  touch -d "@$mtime" "$stage" "$stage"/*
  if [ "$os" = windows ]; then
    (cd dist && TZ=UTC zip -qX -r "$name.zip" "$name")
  else
    tar -C dist --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner -czf "dist/$name.tar.gz" "$name"
  fi
  rm -rf "$stage"
done
(cd dist && sha256sum oat-* >SHA256SUMS && cat SHA256SUMS)
# The linux/amd64 binary must run here and say what it is.
tmp=$(mktemp -d)
tar -C "$tmp" -xzf "dist/oat-$version-linux-amd64.tar.gz"
if [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ]; then
  "$tmp/oat-$version-linux-amd64/oat" --version
fi
rm -rf "$tmp"
(cd dist && sha256sum -c --quiet SHA256SUMS)
