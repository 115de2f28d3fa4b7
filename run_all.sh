#!/usr/bin/env bash
# The kit's one entry point. Creates .venv from requirements.lock when missing or out of date, then:
#   ./run_all.sh                        run every paper's notebooks at the cpu profile, write the report
#   ./run_all.sh test [PYTEST ARGS]     run the whole test suite (what .ci/run calls)
#   ./run_all.sh lab                    JupyterLab on the kit's venv, notebooks/ open
#   ./run_all.sh bench [--run smoke]    the benchmark: step times per paper, kit kernels beside the plain alternative
#                      [--parallel smoke]  ... and every paper's run with --jobs 1 against the default
# Options for a run:
#   --profile smoke|cpu|gpu   (default cpu)      --paper NAME  (repeatable; default all)
#   --resume                  skip notebooks whose step is fresh (same config slice and code)
#   --set KEY=VALUE           config override (repeatable; the run goes to runs/<profile>+<hash>)
#   --jobs N                  most jobs at once (papers side by side, (arm, seed) runs); 1: one at a time
#                             default: as many as the cores fit; REPRO_DASK_SCHEDULER=tcp://... sends jobs to Dask
#   --refresh-notebooks       re-execute the committed notebooks in place at smoke
#   --list                    papers and their notebooks
#   --relock                  rebuild requirements.lock from pyproject.toml in a scratch venv
#   --help
set -euo pipefail
# A relative REPRO_RUNS_DIR / REPRO_DATA_DIR means relative to where you typed the command, not to the kit.
for var in REPRO_RUNS_DIR REPRO_DATA_DIR; do
  if [ -n "${!var:-}" ] && [[ "${!var}" != /* ]]; then export "$var=$PWD/${!var}"; fi
done
cd "$(dirname "$0")"
ROOT=$PWD
VENV="$ROOT/.venv"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONNOUSERSITE=1

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

find_python() {
  for py in "${PYTHON:-}" python3.11 python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'; then echo "$py"; return; fi
  done
  echo "run_all.sh: needs Python 3.11 or 3.12 (set PYTHON=/path/to/python)" >&2; exit 2
}

bootstrap() {
  local stamp="$VENV/.repro-lock.sha256" want
  want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  echo "run_all.sh: installing the kit into .venv from requirements.lock ..." >&2
  [ -x "$VENV/bin/python" ] || "$(find_python)" -m venv "$VENV"
  local pip=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
  "${pip[@]}" install --upgrade "pip>=25" "setuptools>=77" wheel
  # --no-deps: the lock is the complete, tested set (torchattacks' declared torchvision is left out on purpose)
  "${pip[@]}" install --no-deps -r requirements.lock
  "${pip[@]}" install --no-deps --no-build-isolation -e .
  # papermill and JupyterLab start kernels over loopback TCP; drop ipykernel's one warning about it in
  # this venv's kernels (repro.core.kernels says why; delete <venv>/etc/ipython/ipython_kernel_config.py to undo)
  "$VENV/bin/python" -c 'import sys; from pathlib import Path; from repro.core.kernels import install_quiet_kernel_config as q; q(Path(sys.prefix) / "etc" / "ipython")'
  echo "$want" > "$stamp"
}

relock() {
  local tmp; tmp=$(mktemp -d)
  "$(find_python)" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip -q install --upgrade "pip>=25" "setuptools>=77" wheel
  "$tmp/venv/bin/python" -m pip -q install -e ".[test]"
  "$tmp/venv/bin/python" -m pip -q install --no-deps $(python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['tool']['repro']['no-deps'])")
  { echo "# Exact versions the kit was tested with (Python 3.11, CPU). Installed with --no-deps by run_all.sh;"
    echo "# regenerate with: ./run_all.sh --relock  (pyproject.toml keeps the ranges)."
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$/torch==\1/'; } > requirements.lock
  rm -rf "$tmp"; echo "requirements.lock rewritten" >&2
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --relock) relock; exit 0 ;;
  test) shift; bootstrap; exec "$VENV/bin/python" -m pytest "$@" ;;
  lab) shift; bootstrap; exec "$VENV/bin/python" -m repro.core.lab "$@" ;;
  bench) shift; bootstrap; exec "$VENV/bin/python" -m repro.bench "$@" ;;
esac

mode=run; profile=cpu; opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || { echo "run_all.sh: --profile needs a value" >&2; exit 2; }; profile=$2; shift 2 ;;
    --paper|--set|--jobs) [ $# -ge 2 ] || { echo "run_all.sh: $1 needs a value" >&2; exit 2; }; opts+=("$1" "$2"); shift 2 ;;
    --resume) opts+=(--resume); shift ;;
    --refresh-notebooks) mode=refresh-notebooks; shift ;;
    --list) mode=list; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
bootstrap
case "$mode" in
  list) exec "$VENV/bin/python" -m repro list ;;
  refresh-notebooks) exec "$VENV/bin/python" -m repro refresh-notebooks "${opts[@]}" ;;
  *) exec "$VENV/bin/python" -m repro run --profile "$profile" "${opts[@]}" ;;
esac
