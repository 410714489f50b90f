#!/usr/bin/env bash
# Re-vendors the DSFR's built files from the npm registry into backoffice/static/dsfr.
# Usage: scripts/vendor-dsfr.sh [version]
set -euo pipefail
version=${1:-1.15.3}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@gouvfr/dsfr@$version" >/dev/null && tar xzf gouvfr-dsfr-*.tgz)
src=$work/package/dist
dst=$top/backoffice/static/dsfr
rm -rf "$dst" && mkdir -p "$dst/utility/icons" "$dst/fonts"
cp "$src"/dsfr.min.css "$src"/dsfr.module.min.js "$src"/dsfr.nomodule.min.js "$dst/"
cp "$src"/fonts/*.woff2 "$src"/fonts/*.woff "$dst/fonts/"
cp -r "$src/icons" "$src/favicon" "$dst/"
cp "$src/utility/icons/icons.min.css" "$dst/utility/icons/"
cp "$work/package/LICENSE.md" "$dst/LICENSE.md"
echo "@gouvfr/dsfr $version — built files from the npm package's dist/ (see scripts/vendor-dsfr.sh)" > "$dst/VERSION"
echo "DSFR $version vendored into $dst"
