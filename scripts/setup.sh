#!/usr/bin/env bash
# Sets up everything Koopsuz needs on a fresh Debian 12 machine; safe to run again (idempotent).
#   Debian packages (apt-get, only those missing), a virtual environment with the pinned Python
#   packages, and the npm packages for the web pages.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

APT_PACKAGES=(
  python3 python3-venv python3-dev python3-gi gcc pkg-config
  gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
  gstreamer1.0-libav gstreamer1.0-x
  chromium fonts-dejavu-core
  nats-server postgresql  # scale-out adapters: the tests start their own JetStream and PostgreSQL servers
  postgresql-15-postgis-3  # PostGIS: spatial queries in the database where the extension is created
  mosquitto  # MQTT alert publication: its test starts its own broker
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages: all present"
fi

# The venv uses Debian's Python 3.11 with system site packages so that GStreamer's Python bindings
# (python3-gi, used by the RTSP camera simulator) are importable; pinned wheels shadow the rest.
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment in .venv (Python: /usr/bin/python3)"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=".venv/.koopsuz-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages (pinned in pyproject.toml)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.koopsuz-*
  touch "$stamp"
else
  say "Python packages: up to date"
fi

# Plate models ship inside the rapidocr wheel (never downloaded at run time): check they are there.
.venv/bin/python -c "from koopsuz.vision.plates import find_plate_models as f; f()" \
  && say "plate models: present (rapidocr wheel)" || say "plate models missing: koopsuz plate read will fail"

# Real face photos for the face tests and benchmarks, from PyPI packages (the face_recognition sdist
# and the insightface wheel; see tests/faces/photos.py); cached under var/, never fetched at run time.
say "face photos for tests (cached in var/)"
.venv/bin/python tests/faces/photos.py >/dev/null 2>&1 || say "face photos unavailable (offline?): tests/faces will fail until they are fetched"

if [ -x scripts/web_assets.sh ]; then
  say "web assets (npm)"
  scripts/web_assets.sh
fi
say "set-up complete"
