#!/usr/bin/env bash
# Idempotent setup shared by every make target: virtualenv, Python packages, anvil, demo models.
# Each step is skipped when its inputs are unchanged, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
ANVIL_VERSION=1.7.1
VENV=.venv
mkdir -p build

# This machine's pip config names local mirrors that may be absent; their warnings are noise.
pip_quiet() { "$VENV/bin/python" -m pip -q --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

# 1. virtualenv
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
  pip_quiet install --upgrade pip
fi

# 2. Python packages, reinstalled only when pyproject.toml changes
stamp=build/.stamp-pip
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing deai and its dependencies"
  # torch first and pinned: the CPU build on disk, never a CUDA build pulled by another package
  pip_quiet install "torch==2.13.0"
  pip_quiet install -e ".[dev,analytics]"
  echo "$want" > "$stamp"
fi

# 3. anvil from the npm registry, pinned, into tools/ and linked into the venv's bin
if [ ! -x "$VENV/bin/anvil" ] || ! "$VENV/bin/anvil" --version 2>/dev/null | grep -q "$ANVIL_VERSION"; then
  echo "setup: installing anvil $ANVIL_VERSION from the npm registry"
  mkdir -p tools/npm
  npm install --silent --no-audit --no-fund --prefix tools/npm "@foundry-rs/anvil@$ANVIL_VERSION" >/dev/null
  bin=$(ls tools/npm/node_modules/@foundry-rs/anvil-linux-*/bin/anvil | head -n 1)
  ln -sf "$PWD/$bin" "$VENV/bin/anvil"
fi

# 3b. the JS UnixFS importer, pinned: the independent implementation that deai.store's CID
#     tests compare with (tests/integration/store/reference_cid.mjs), in the same tools/npm
UNIXFS_IMPORTER_VERSION=17.1.1
if ! grep -qs "\"version\": \"$UNIXFS_IMPORTER_VERSION\"" tools/npm/node_modules/ipfs-unixfs-importer/package.json; then
  echo "setup: installing ipfs-unixfs-importer $UNIXFS_IMPORTER_VERSION from the npm registry"
  mkdir -p tools/npm
  npm install --silent --no-audit --no-fund --save-exact --prefix tools/npm "ipfs-unixfs-importer@$UNIXFS_IMPORTER_VERSION" >/dev/null
fi

# 3c. Debian's chromium and its driver for the explorer's browser tests (tests/e2e/explorer);
#     Selenium drives /usr/bin/chromedriver, so no browser build is downloaded by a Python package.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium and chromium-driver with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  else
    echo "setup: /usr/bin/chromium is missing; install chromium and chromium-driver (the explorer's browser tests skip without them)"
  fi
fi

# 4. demo models, built offline and cached by content (skipped until the runtime package exists)
if "$VENV/bin/python" -c "import deai.runtime.demo_models" 2>/dev/null; then
  "$VENV/bin/python" -m deai.runtime.demo_models --quiet
fi
