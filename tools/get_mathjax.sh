#!/usr/bin/env bash
# MathJax 3 (the npm package's es5 build) into DEST, which the book copies to its HTML root, so that
# formulas render without network. Fetched once with npm (installed with apt-get when missing).
set -euo pipefail
version=${1:-3.2.2}
dest=${2:-_mathjax/mathjax}
[ -f "$dest/tex-chtml.js" ] && exit 0
if ! command -v npm >/dev/null; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    echo "npm not found: installing it with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mathjax@$version" >/dev/null && tar xzf "mathjax-$version.tgz")
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
cp -r "$tmp/package/es5" "$dest.partial"
mv "$dest.partial" "$dest"
echo "MathJax $version in $dest"
