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
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip install -q --no-deps "basic-pitch==0.4.0" "transkun==2.0.1"
echo "embedstore environment ready in $VENV"
