#!/usr/bin/env bash
# The whole test suite, Python and Rust, in the two environments users have:
#   - Python 3.11 + LensKit 2025.8.1 (LKDOCTOR_VENV, default ~/.venvs/lkdoctor)
#   - Python 3.13 + LensKit 2026.4.0 (LKDOCTOR_VENV_313, default ~/.venvs/lkdoctor313;
#     interpreter LKDOCTOR_PYTHON_313, default ~/.pyenv/versions/3.13.0/bin/python)
# Both get the same abi3 wheel, built once here, installed as a user installs it (not
# editable), so the tests exercise what ships. The environments are kept between runs so
# torch (several GB) is downloaded once per Python; pip's cache is kept too.
# Arguments go to both pytest runs, e.g. `bash scripts/test.sh tests/plan -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
venv_311="${LKDOCTOR_VENV:-$HOME/.venvs/lkdoctor}"
venv_313="${LKDOCTOR_VENV_313:-$HOME/.venvs/lkdoctor313}"
python_313="${LKDOCTOR_PYTHON_313:-$HOME/.pyenv/versions/3.13.0/bin/python}"
torch_version="2.13.0"
maturin_spec="maturin>=1.9,<2"

installed_version() {  # installed_version PYTHON DIST: prints its version, fails when absent
  "$1" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$2" 2>/dev/null
}

ensure_version() {  # ensure_version PYTHON DIST VERSION: pip install DIST==VERSION unless there
  if [ "$(installed_version "$1" "$2" || true)" != "$3" ]; then
    "$1" -m pip install -q "$2==$3"
  fi
}

[ -x "$venv_311/bin/python" ] || python3 -m venv "$venv_311"
[ -x "$venv_313/bin/python" ] || "$python_313" -m venv "$venv_313"
py_311="$venv_311/bin/python"
py_313="$venv_313/bin/python"

# One wheel for both: the probe is built for the stable ABI from 3.11 (cp311-abi3).
"$py_311" -m pip install -q "$maturin_spec"
wheel_dir="$repo/target/lkdoctor-wheel"
rm -rf "$wheel_dir"
"$venv_311/bin/maturin" build --release --quiet -o "$wheel_dir"
wheel="$(echo "$wheel_dir"/lkdoctor-*-cp311-abi3-*.whl)"
[ -f "$wheel" ] || { echo "test.sh: no cp311-abi3 wheel in $wheel_dir" >&2; exit 1; }

# install_env PYTHON LENSKIT_VERSION EXTRAS: torch, then LensKit, then lkdoctor's wheel with
# the extras' dependencies. lkdoctor comes last so its `lenskit` script is the one in bin/.
install_env() {
  ensure_version "$1" torch "$torch_version"
  ensure_version "$1" lenskit "$2"
  "$1" -m pip install -q "$wheel[$3]"
  # the same version number as an earlier build: force this build in, replacing any
  # editable install a developer made in this environment
  "$1" -m pip install -q --no-deps --force-reinstall "$wheel"
}
install_env "$py_311" 2025.8.1 test,lint
install_env "$py_313" 2026.4.0 test

cargo test --quiet

# run_pytest PYTHON MARKER_EXPRESSION ARGS...: the suite against the installed wheel.
# PYTHONSAFEPATH keeps the current folder off sys.path, in pytest and in every Python it
# starts, so `import lkdoctor` finds the installed package, not ./lkdoctor (tests/conftest.py
# checks it under LKDOCTOR_TEST_INSTALLED). Exit 5 (nothing selected) is fine only when the
# caller narrowed the run with arguments; the full run must run tests in both environments.
run_pytest() {
  local py="$1" markers="$2" status=0
  shift 2
  echo "== pytest in $("$py" -c 'import sys; print(sys.prefix, sys.version.split()[0])') -m '$markers'" >&2
  PYTHONSAFEPATH=1 LKDOCTOR_TEST_INSTALLED=1 LKDOCTOR_WHEEL="$wheel" \
    LKDOCTOR_NO_SKIPS="${CI:+1}" PATH="$(dirname "$py"):$PATH" \
    "$py" -m pytest -m "$markers" "$@" || status=$?
  if [ "$status" -eq 5 ] && [ "$#" -gt 0 ]; then
    echo "== no test selected there by: $*" >&2
    return 0
  fi
  return "$status"
}
# 3.11 + LensKit 2025.8.1: everything but what needs LensKit 2026.
# 3.13 + LensKit 2026.4.0: everything but what compares with LensKit 2025's own code; the
# rest (CPU budget, pools, CLI, plugin, probe) behaves differently on 3.13 and beside 2026.
run_pytest "$py_311" "not lenskit2026" "$@"
run_pytest "$py_313" "not lenskit2025" "$@"
