#!/usr/bin/env bash
# Installs everything the test suite needs, then runs it.
#   - Debian's chromium (headless browser tests), when missing and we are root
#   - this package with TensorFlow (CPU) and its [test] extras (a regular, non-editable install)
#   - JAX and PyTorch (CPU builds) for the tests that run on Keras' other backends:
#     torch==2.13.0 is the CPU build; a plain "torch" from PyPI is a CUDA build of
#     several GB (pip on machines with a local wheel store takes it from there)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    echo "chromium is missing and cannot be installed here: browser tests will be skipped (they fail under CI=true)" >&2
  fi
fi

python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
python -m pip install -q ".[cpu,test]"
python -m pip install -q jax "torch==2.13.0" || python -m pip install -q jax torch --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
exec python -m pytest -q -p no:cacheprovider "$@"
