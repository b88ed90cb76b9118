#!/usr/bin/env bash
# Vendor the GraphiQL page's browser assets into gateway/http/static/graphiql/ so the
# IDE works on offline / air-gapped agent desktops and under `script-src 'self'`.
#
# Needs node's `npm` (registry access) only when re-vendoring; the output is
# committed, so a fresh checkout needs nothing but Python.
#
# Versions match what strawberry-graphql 0.341.2's own graphiql.html loads from
# a CDN (graphiql 3.8.3, React 18.2.0, @graphiql/plugin-explorer 1.0.2), so the
# page behaves the same. Files are copied byte-for-byte: their sha256 in
# MANIFEST.txt can be checked against `npm pack` output at any time.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/gateway/http/static/graphiql"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# package@version | path in the tarball | file name in $dest
# The version is part of each vendored name so the asset app may cache it forever.
assets=(
  "react@18.2.0|package/umd/react.production.min.js|react-18.2.0.production.min.js"
  "react-dom@18.2.0|package/umd/react-dom.production.min.js|react-dom-18.2.0.production.min.js"
  "graphiql@3.8.3|package/graphiql.min.js|graphiql-3.8.3.min.js"
  "graphiql@3.8.3|package/graphiql.min.css|graphiql-3.8.3.min.css"
  "@graphiql/plugin-explorer@1.0.2|package/dist/index.umd.js|plugin-explorer-1.0.2.umd.js"
  "@graphiql/plugin-explorer@1.0.2|package/dist/style.css|plugin-explorer-1.0.2.css"
)
# package@version | path in the tarball | license file name in $dest
# @graphiql/plugin-explorer ships no LICENSE file (package.json: "MIT"); it lives in
# the graphiql monorepo under graphiql's LICENSE, and its UMD build bundles
# graphiql-explorer 0.9.0 (MIT), whose license is vendored too.
licenses=(
  "react@18.2.0|package/LICENSE|LICENSE-react.txt"
  "react-dom@18.2.0|package/LICENSE|LICENSE-react-dom.txt"
  "graphiql@3.8.3|package/LICENSE|LICENSE-graphiql.txt"
  "graphiql-explorer@0.9.0|package/LICENSE|LICENSE-graphiql-explorer.txt"
)

unpack() { # package@version -> prints the directory holding its unpacked tarball
  local spec="$1" dir
  dir="$work/$(printf '%s' "$spec" | tr '/@' '__')"
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$dir"
    local tgz
    tgz="$(cd "$dir" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
    tar -xzf "$dir/$tgz" -C "$dir"
  fi
  printf '%s\n' "$dir"
}

license_of() { # package@version -> license field of its package.json
  node -e 'process.stdout.write(String(require(process.argv[1]).license))' \
    "$(unpack "$1")/package/package.json"
}

mkdir -p "$dest"
manifest="$dest/MANIFEST.txt"
{
  echo "# Vendored GraphiQL assets, written by scripts/vendor_graphiql.sh; do not edit by hand."
  echo "# file  package@version  path-in-npm-tarball  sha256  license"
} >"$manifest"

for entry in "${assets[@]}" "${licenses[@]}"; do
  IFS='|' read -r spec src name <<<"$entry"
  dir="$(unpack "$spec")"
  install -m 0644 "$dir/$src" "$dest/$name"
  sum="$(sha256sum "$dest/$name" | cut -d' ' -f1)"
  printf '%s  %s  %s  %s  %s\n' "$name" "$spec" "$src" "$sum" "$(license_of "$spec")" >>"$manifest"
done

echo "vendored into $dest:"
(cd "$dest" && du -ch -- *.js *.css LICENSE-*.txt | sed 's/^/  /')
