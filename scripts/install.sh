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
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -e ".[${extras}]"
# mediapipe pulls opencv-contrib-python (needs libGL) into the same cv2 folder: put the headless build back on top.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "opencv-python-headless==4.11.0.86"
.venv/bin/python -c "import cv2, mediapipe, torch; print('masquerade installed: torch', torch.__version__, '| opencv', cv2.__version__)"
