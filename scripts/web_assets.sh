#!/usr/bin/env bash
# Fetch and vendor the front-end assets of the command-centre pages.
#
# What it does (idempotent; safe to run again):
#   1. installs the npm packages pinned in package.json / package-lock.json at the repo root
#      (`npm ci` when the lock file exists, `npm install` otherwise), unless node_modules already
#      matches the lock file;
#   2. copies Leaflet's dist/ (leaflet.js, leaflet.css, images/) into
#      src/koopsuz/web/static/vendor/leaflet/ (git-ignored), replacing what was there;
#   3. copies hls.js's ES module build (hls.min.mjs, the playback page's HLS player) into
#      src/koopsuz/web/static/vendor/hls/.
# Nothing is fetched at run time by the pages: the map draws the oblast GeoJSON, no tiles.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
vendor=src/koopsuz/web/static/vendor
log() { printf 'web_assets: %s\n' "$*"; }

command -v npm >/dev/null 2>&1 || { log "npm not found: install Node.js 20+ (npm) first" >&2; exit 1; }

need_install=1
if [ -f package-lock.json ] && [ -f node_modules/.package-lock.json ] && [ -d node_modules/leaflet/dist ] \
  && [ -d node_modules/hls.js/dist ]; then
  # npm writes node_modules/.package-lock.json after a successful install; if it is newer than
  # both manifests the tree is current and `npm ci` (which wipes node_modules) can be skipped.
  if [ node_modules/.package-lock.json -nt package-lock.json ] && [ node_modules/.package-lock.json -nt package.json ]; then
    need_install=0
  fi
fi
if [ "$need_install" = 1 ]; then
  if [ -f package-lock.json ]; then
    log "npm ci (from package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
  else
    log "npm install (no package-lock.json yet; writes one)"
    npm install --no-audit --no-fund --loglevel=error
  fi
else
  log "node_modules is current with package-lock.json; skipping npm ci"
fi

src=node_modules/leaflet/dist
[ -f "$src/leaflet.js" ] || { log "missing $src/leaflet.js after install" >&2; exit 1; }
version=$(node -p 'require("./node_modules/leaflet/package.json").version')
log "copying leaflet $version dist -> $vendor/leaflet/"
rm -rf "$vendor/leaflet.tmp"
mkdir -p "$vendor/leaflet.tmp"
cp -R "$src/leaflet.js" "$src/leaflet.js.map" "$src/leaflet.css" "$src/images" "$vendor/leaflet.tmp/"
cp node_modules/leaflet/LICENSE "$vendor/leaflet.tmp/LICENSE" 2>/dev/null || true
printf '%s\n' "$version" >"$vendor/leaflet.tmp/VERSION"
rm -rf "$vendor/leaflet"
mv "$vendor/leaflet.tmp" "$vendor/leaflet"

src=node_modules/hls.js/dist
[ -f "$src/hls.min.mjs" ] || { log "missing $src/hls.min.mjs after install" >&2; exit 1; }
version=$(node -p 'require("./node_modules/hls.js/package.json").version')
log "copying hls.js $version (ES module) -> $vendor/hls/"
rm -rf "$vendor/hls.tmp"
mkdir -p "$vendor/hls.tmp"
cp "$src/hls.min.mjs" "$src/hls.min.mjs.map" "$vendor/hls.tmp/"
cp node_modules/hls.js/LICENSE "$vendor/hls.tmp/LICENSE" 2>/dev/null || true
printf '%s\n' "$version" >"$vendor/hls.tmp/VERSION"
rm -rf "$vendor/hls"
mv "$vendor/hls.tmp" "$vendor/hls"
log "done"
