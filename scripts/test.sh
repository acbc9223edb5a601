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

[ -x "$venv_311/bin/python" ] || python3 -m venv "$venv_311"
[ -x "$venv_313/bin/python" ] || "$python_313" -m venv "$venv_313"
py_311="$venv_311/bin/python"
py_313="$venv_313/bin/python"

# Installs go through uv where it can be had (from PATH, else pip-installed into the 3.11
# environment): it downloads in parallel and keeps one cache for both environments, which
# share torch's CUDA libraries, so setting up a new machine takes minutes less. Any uv
# failure falls back to pip for that install, so a machine uv cannot serve still works.
# Either way the installed modules are compiled to bytecode (pip's default, uv's
# --compile-bytecode): without it every Python the suite starts compiles torch's and
# LensKit's sources again (about 1.6 s of CPU per `import torch`; PYTHONDONTWRITEBYTECODE,
# set on some machines, keeps Python from caching them itself).
uv_bin=""
if command -v uv >/dev/null 2>&1; then
  uv_bin="$(command -v uv)"
elif [ -x "$venv_311/bin/uv" ] || "$py_311" -m pip install -q uv >/dev/null 2>&1; then
  uv_bin="$venv_311/bin/uv"
fi
# uv reads UV_*, not PIP_*: the same index, extra index and certificates pip would use
[ -z "${PIP_INDEX_URL:-}" ] || export UV_INDEX_URL="${UV_INDEX_URL:-$PIP_INDEX_URL}"
[ -z "${PIP_EXTRA_INDEX_URL:-}" ] || export UV_EXTRA_INDEX_URL="${UV_EXTRA_INDEX_URL:-$PIP_EXTRA_INDEX_URL}"
[ -z "${PIP_CERT:-}" ] || export SSL_CERT_FILE="${SSL_CERT_FILE:-$PIP_CERT}"
[ ! -d "${PIP_FIND_LINKS:-}" ] || export UV_FIND_LINKS="${UV_FIND_LINKS:-$PIP_FIND_LINKS}"

install() {  # install PYTHON [--reinstall-package DIST] REQUIREMENT...: into that environment
  local py="$1" pip_args=()
  shift
  if [ -n "$uv_bin" ] && "$uv_bin" pip install --quiet --compile-bytecode --python "$py" "$@"; then
    return 0
  fi
  [ -z "$uv_bin" ] || echo "test.sh: uv could not install $* into $py; trying pip" >&2
  local reinstall=""
  for arg in "$@"; do  # uv's `--reinstall-package DIST` is pip's --force-reinstall
    if [ -n "$reinstall" ]; then
      reinstall=""
    elif [ "$arg" = --reinstall-package ]; then
      pip_args+=(--force-reinstall)
      reinstall=1
    else
      pip_args+=("$arg")
    fi
  done
  "$py" -m pip install -q "${pip_args[@]}"
}

ensure_version() {  # ensure_version PYTHON DIST VERSION: install DIST==VERSION unless there
  if [ "$(installed_version "$1" "$2" || true)" != "$3" ]; then
    install "$1" "$2==$3"
  fi
}

# compile_once PYTHON: bytecode for an environment made without it (uv's default), once
compile_once() {
  local marker
  marker="$("$1" -c 'import sys; print(sys.prefix)')/.lkdoctor-bytecode"
  [ ! -f "$marker" ] || return 0
  # a few packages ship files for other Pythons that do not compile: not an error here
  "$1" -m compileall -q -j 0 "$("$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    >/dev/null || true
  touch "$marker"
}

# install_base PYTHON LENSKIT_VERSION: torch, then LensKit (the slow part of a new machine)
install_base() {
  ensure_version "$1" torch "$torch_version"
  ensure_version "$1" lenskit "$2"
  compile_once "$1"
}

# Both environments get torch and LensKit at once, while the wheel and the Rust tests build;
# an install still running when this script fails is stopped with it.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
install "$py_311" "$maturin_spec"
install_base "$py_311" 2025.8.1 &
base_311=$!
install_base "$py_313" 2026.4.0 &
base_313=$!

# One wheel for both: the probe is built for the stable ABI from 3.11 (cp311-abi3).
wheel_dir="$repo/target/lkdoctor-wheel"
rm -rf "$wheel_dir"
"$venv_311/bin/maturin" build --release --quiet -o "$wheel_dir"
wheel="$(echo "$wheel_dir"/lkdoctor-*-cp311-abi3-*.whl)"
[ -f "$wheel" ] || { echo "test.sh: no cp311-abi3 wheel in $wheel_dir" >&2; exit 1; }

cargo test --quiet
wait "$base_311"
wait "$base_313"

# install_wheel PYTHON EXTRAS: lkdoctor's wheel with the extras' dependencies, last, so its
# `lenskit` script is the one in bin/.
install_wheel() {
  install "$1" "$wheel[$2]"
  # the same version number as an earlier build: force this build in, replacing any
  # editable install a developer made in this environment
  install "$1" --no-deps --reinstall-package lkdoctor "$wheel"
}
install_wheel "$py_311" test,lint &
wheel_311=$!
install_wheel "$py_313" test &
wheel_313=$!
wait "$wheel_311"
wait "$wheel_313"

# The tests run in two rounds per environment. Most share the machine: they run on xdist
# workers, one per CPU this script may use (nproc: its affinity), at most 4 since each one
# imports torch again and again; LKDOCTOR_TEST_WORKERS sets the count. The tests marked
# `alone` measure how the CPUs are shared (verdicts, runnable threads), so they run after
# the others, one at a time, with the machine to themselves.
cpus="$(nproc)"
workers="${LKDOCTOR_TEST_WORKERS:-$((cpus < 4 ? cpus : 4))}"

# run_pytest PYTHON MARKER_EXPRESSION ARGS...: the suite against the installed wheel.
# PYTHONSAFEPATH keeps the current folder off sys.path, in pytest and in every Python it
# starts, so `import lkdoctor` finds the installed package, not ./lkdoctor (tests/conftest.py
# checks it under LKDOCTOR_TEST_INSTALLED). The slowest tests are listed, so a CI log shows
# where its time goes (a later --durations=N overrides). Exit 5 (nothing selected) is fine
# only when the caller narrowed the run with arguments; the full run must run tests in both
# rounds of both environments.
run_pytest() {
  local py="$1" markers="$2" round status failed=0
  shift 2
  for round in shared alone; do
    status=0
    echo "== pytest in $("$py" -c 'import sys; print(sys.prefix, sys.version.split()[0])') -m '($markers) and $([ "$round" = alone ] || printf 'not ')alone'" >&2
    if [ "$round" = shared ]; then
      run_round "$py" "($markers) and not alone" -n "$workers" --dist loadgroup --durations=25 "$@" || status=$?
    else
      run_round "$py" "($markers) and alone" --durations=10 "$@" || status=$?
    fi
    if [ "$status" -eq 5 ] && [ "$#" -gt 0 ]; then
      echo "== no test selected there by: $*" >&2
    elif [ "$status" -ne 0 ]; then
      failed="$status"
    fi
  done
  return "$failed"
}
run_round() {  # run_round PYTHON MARKER_EXPRESSION PYTEST_ARGS...
  local py="$1" markers="$2"
  shift 2
  PYTHONSAFEPATH=1 LKDOCTOR_TEST_INSTALLED=1 LKDOCTOR_WHEEL="$wheel" \
    LKDOCTOR_NO_SKIPS="${CI:+1}" PATH="$(dirname "$py"):$PATH" \
    "$py" -m pytest -m "$markers" "$@"
}
# 3.11 + LensKit 2025.8.1: everything but what needs LensKit 2026.
# 3.13 + LensKit 2026.4.0: everything but what compares with LensKit 2025's own code; the
# rest (CPU budget, pools, CLI, plugin, probe) behaves differently on 3.13 and beside 2026.
status_311=0
run_pytest "$py_311" "not lenskit2026" "$@" || status_311=$?
run_pytest "$py_313" "not lenskit2025" "$@"
exit "$status_311"
