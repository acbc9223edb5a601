#!/usr/bin/env bash
# Run .ci/run as CI does: a fresh clone of the committed HEAD, a fresh environment, and the
# surrounding environment both with and without the OPENBLAS_* variables some machines carry.
#   bash scripts/fresh_ci.sh            # both variants, one new environment each
#   bash scripts/fresh_ci.sh with       # only with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE set
#   bash scripts/fresh_ci.sh without    # only with them unset
# Nothing outside the new folders is used but pip's cache, so a step .ci/run forgot to
# install fails here as it would on a new machine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
variants=("${@:-with without}")
read -r -a variants <<<"${variants[*]}"
for variant in "${variants[@]}"; do
  work="$(mktemp -d /tmp/lkdoctor-fresh-XXXXXX)"
  # two environments with torch take ~12 GB: removed also when the run fails
  trap 'rm -rf "$work"' EXIT
  git clone -q "$repo" "$work/clone"
  echo "== fresh clone in $work ($variant OPENBLAS_*)" >&2
  if [ "$variant" = with ]; then
    (cd "$work/clone" && env OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 CI=true \
      LKDOCTOR_VENV="$work/venv" LKDOCTOR_VENV_313="$work/venv313" bash .ci/run)
  else
    (cd "$work/clone" && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE CI=true \
      LKDOCTOR_VENV="$work/venv" LKDOCTOR_VENV_313="$work/venv313" bash .ci/run)
  fi
  rm -rf "$work"
done
