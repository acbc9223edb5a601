#!/usr/bin/env bash
# The whole test suite, Python and Rust, from a fresh clone or a reused environment.
# The environment (default ~/.venvs/lkdoctor, LKDOCTOR_VENV to change it) is kept between
# runs so torch (several GB) is downloaded once; pip's cache is kept too.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LKDOCTOR_VENV:-$HOME/.venvs/lkdoctor}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
# torch pinned to the version a local CPU wheel may exist for; skipped when already there.
"$py" -c "import torch" 2>/dev/null || "$py" -m pip install -q "torch==2.13.0"
# LensKit 2025.8.1: the thread-plan tests compare with its own code. Installed before
# lkdoctor, whose `lenskit` console script must be the one left in bin/.
"$py" -c "import importlib.metadata as m; assert m.version('lenskit') == '2025.8.1'" 2>/dev/null ||
  "$py" -m pip install -q "lenskit==2025.8.1"
"$py" -m pip install -q -e ".[test,lint]"
cargo test --quiet
LKDOCTOR_NO_SKIPS="${CI:+1}" PATH="$venv/bin:$PATH" "$py" -m pytest "$@"
