#!/usr/bin/env bash
# Create .venv and install Masquerade into it, CPU-only, with pinned versions.
#   bash scripts/install.sh        # the tool, with the face-recognition extra the demo's report uses
#   bash scripts/install.sh dev    # plus the web UI, Ray and the test and benchmark extras
# torch is named in the same pip command so pip takes the pinned CPU build instead of a CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="eval"
[ "${1:-}" = "dev" ] && extras="eval,ui,scale,dev"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The pins live in pyproject.toml only; read the two this script must name itself from there.
pin() { .venv/bin/python -c "import sys, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print(next(d for d in deps if d.split('==')[0] == sys.argv[1]))" "$1"; }
.venv/bin/python -m pip install --quiet --disable-pip-version-check "$(pin torch)" -e ".[${extras}]"
# mediapipe pulls opencv-contrib-python (needs libGL) into the same cv2 folder: put the headless build back on top.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$(pin opencv-python-headless)"
.venv/bin/python -c "import cv2, mediapipe, torch; print('masquerade installed: torch', torch.__version__, '| opencv', cv2.__version__)"
