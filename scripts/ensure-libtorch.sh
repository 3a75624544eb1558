#!/usr/bin/env bash
# Makes <package>/.libtorch point at a libtorch root (include/, lib/, share/cmake/Torch).
#   $LIBTORCH   a libtorch root (an unpacked libtorch zip, or site-packages/torch)
#   $Torch_DIR  its share/cmake/Torch directory
#   otherwise   PyPI's torch wheel (+ nvcc) in the package-local venv .venv,
#               reinstalled only when requirements-torch.txt changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -n "${LIBTORCH:-}" ]]; then
  torch_root="$LIBTORCH"
elif [[ -n "${Torch_DIR:-}" ]]; then
  torch_root="$(cd "$Torch_DIR/../../.." && pwd)"
else
  venv="${SPO_VENV:-$root/.venv}"
  stamp="$venv/.spo-requirements"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$stamp" requirements-torch.txt; then
    py="${PYTHON:-python3}"
    command -v "$py" >/dev/null || { echo "spo-diffusion: python3 is needed to install libtorch (or set LIBTORCH)" >&2; exit 1; }
    echo "spo-diffusion: installing libtorch (PyPI torch wheel) into $venv" >&2
    [[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-torch.txt
    cp requirements-torch.txt "$stamp"
  fi
  torch_root="$("$venv/bin/python" - <<'PY'
import importlib.util, os
print(os.path.dirname(importlib.util.find_spec("torch").origin))
PY
)"
fi
if [[ ! -f "$torch_root/include/ATen/ATen.h" ]]; then
  echo "spo-diffusion: '$torch_root' is not a libtorch root (no include/ATen/ATen.h)" >&2
  exit 1
fi
ln -sfn "$torch_root" .libtorch
echo "$torch_root"
