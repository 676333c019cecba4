#!/usr/bin/env bash
# Creates the virtual environment and installs everything embedstore needs (idempotent).
# - torch is pinned to the CPU build 2.13.0 first, so no CUDA wheel is pulled in;
# - basic-pitch and transkun ship their model weights inside their wheels; installed --no-deps because their
#   declared dependencies (tensorflow, ...) are not needed for inference here.
# Debian packages are only needed to render more audio (../shared/tools/render.sh installs fluidsynth itself).
set -euo pipefail
PY=${PY:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -r requirements-ci.txt
# the S3 API server of the object-store test; --no-deps: see the note at the top of requirements-s3.txt
"$VENV/bin/python" -m pip install -q --no-deps -r requirements-s3.txt
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip install -q --no-deps "basic-pitch==0.4.0" "transkun==2.0.1"
# The web page's browser test drives headless Chromium: install Debian's chromium + chromium-driver where missing
# (skipped without apt-get or root; the test then skips with the reason).
if ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
      || echo "note: could not install chromium/chromium-driver; the browser test will be skipped"
  else
    echo "note: chromium/chromium-driver missing (no apt-get or root); the browser test will be skipped"
  fi
fi
echo "embedstore environment ready in $VENV"
