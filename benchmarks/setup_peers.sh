#!/usr/bin/env bash
# Create the benchmark environment benchmarks/.venv and install glassnet and its peers into it.
#
#   bash benchmarks/setup_peers.sh              # uses python3 from PATH
#   PYTHON=python3.11 bash benchmarks/setup_peers.sh
#
# The peers live in their own virtual environment so that installing PyTorch, JAX, Keras and
# scikit-learn never touches the environment glassnet is developed and tested in. Every package
# is installed by its own pip command: one that fails (no wheel for this Python, no network)
# leaves the others installed, and the benchmark reports that peer as missing instead of dying.
# PyTorch is ALWAYS the pinned CPU build torch==2.13.0 (the project's pin, see the README).
# The script ends with one line per peer: "installed" (it imports) or "missing".
# Running it again reuses the environment and only installs what is not there yet.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VENV=${VENV:-$HERE/.venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV" || { echo "cannot create the virtual environment $VENV" >&2; exit 1; }
fi
PY="$VENV/bin/python"

failed=()
pip_install() {  # pip_install LABEL PIP-ARGS...: one pip command, failures collected, never fatal
  local label=$1; shift
  echo "== pip install $*"
  if ! "$PY" -m pip install --progress-bar off "$@"; then
    echo "!! pip install $* failed" >&2
    failed+=("$label")
  fi
}

# glassnet itself first (editable: the benchmark always measures the working tree), then NumPy's
# thread-pool inspector for machine.txt, then each peer package on its own.
pip_install glassnet -e "$ROOT"
pip_install threadpoolctl threadpoolctl
pip_install torch "torch==2.13.0"
pip_install jaxlib jaxlib
pip_install jax jax
pip_install optax optax
pip_install keras keras
pip_install scikit-learn scikit-learn
# not a peer: the sampling profiler benchmarks/profile_step.py runs glassnet under
pip_install py-spy py-spy

# A peer counts as installed when everything its runner imports can be imported.
check() {  # check PEER MODULES...
  local peer=$1; shift
  local code="import os; os.environ.setdefault('KERAS_BACKEND', 'jax')"
  for m in "$@"; do code="$code; import $m"; done
  local version
  if version=$("$PY" -c "$code; print(${1}.__version__)" 2>/dev/null); then
    printf '%-10s installed (%s %s)\n' "$peer" "$1" "$version"
  else
    local why
    why=$("$PY" -c "$code" 2>&1 | tail -n1)
    printf '%-10s missing: %s\n' "$peer" "$why"
  fi
}

echo
echo "== peers in $VENV"
check glassnet glassnet numpy
check torch torch
check jax jax optax
check keras keras jax
check sklearn sklearn
if [ -x "$VENV/bin/py-spy" ]; then
  printf '%-10s installed (%s; for benchmarks/profile_step.py)\n' py-spy "$("$VENV/bin/py-spy" --version 2>&1)"
else
  printf '%-10s missing (only benchmarks/profile_step.py needs it)\n' py-spy
fi
[ ${#failed[@]} -eq 0 ] || echo "(pip failed for: ${failed[*]})"
exit 0
