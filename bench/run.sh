#!/usr/bin/env bash
# bench/run.sh — tbviz against PyTorch, side by side, in one run (see bench/README.md).
#
# Same work on both sides: the nsfwjs MobileNetV2 (TF.js graph-model, .deps/graphmodels)
# against torchvision mobilenet_v2, 224x224, 2 threads: forward pass b1/b8, Grad-CAM,
# Grad-CAM++ and LayerCAM b1/b8, Score-CAM b1 over every channel of the last block.
# Our side runs twice: pure Go (default build) and -tags openblas.
#
# Environment: ROUNDS (alternations of the two sides, default 3), COUNT (Go -count per round,
# default 2), SKIP_SCORECAM=1 (skip the ~30 s Score-CAM runs), OUT (raw outputs, default
# bench/out; benchstat-compatible go-*.txt files).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out}
COUNT=${COUNT:-2}
PY=/usr/bin/python3 # Debian's python3-torch; not a pyenv python
mkdir -p "$OUT"
export GOMAXPROCS=2

if ! $PY -c 'import torch, torchvision' 2>/dev/null; then
  echo "bench/run.sh: Debian python3-torch and python3-torchvision are needed (make bench-setup)" >&2
  exit 1
fi
sc=()
[ -n "${SKIP_SCORECAM:-}" ] && sc=(--skip-scorecam)

# The host's speed drifts (this 2-core machine: PyTorch's own batch-8 time moved between 8.7 and
# 20 ms per image from one run to the next), so the two sides alternate in ROUNDS rounds and the
# table pools them: PyTorch's best round, Go's median over all rounds.
ROUNDS=${ROUNDS:-3}
rm -f "$OUT"/torch-*.jsonl "$OUT"/go-*.txt
gobench() { # name, extra go flags...
  local name=$1; shift
  echo "== Go ($name)" >&2
  {
    go test "$@" -run '^$' -bench 'Forward$' -benchmem -count "$COUNT" ./tfmodel/native
    go test "$@" -run '^$' -bench 'SideBySide/(gradcam|gradcam\+\+|layercam)/' -benchmem -count "$COUNT" ./vizhooks/cam
    if [ -z "${SKIP_SCORECAM:-}" ]; then
      go test "$@" -run '^$' -bench 'SideBySide/scorecam/' -benchtime 1x -count 1 ./vizhooks/cam
    fi
  } >> "$OUT/go-$name.txt"
}
for round in $(seq "$ROUNDS"); do
  echo "== round $round/$ROUNDS: PyTorch $($PY -c 'import torch; print(torch.__version__)'), 2 threads" >&2
  # Two settings, best of both (see ../shared/README.md "Reference speeds"): OMP active
  # waiting with single-threaded OpenBLAS avoids the 4 ms timer tick at batch 1.
  OMP_WAIT_POLICY=ACTIVE OPENBLAS_NUM_THREADS=1 $PY bench/torch_ref.py --threads 2 "${sc[@]}" >> "$OUT/torch-active.jsonl"
  $PY bench/torch_ref.py --threads 2 --skip-scorecam >> "$OUT/torch-default.jsonl"
  gobench pure
  CGO_LDFLAGS=-lopenblas gobench openblas -tags openblas
done

echo >&2
$PY bench/table.py "$OUT/torch-active.jsonl" "$OUT/torch-default.jsonl" --go "$OUT/go-pure.txt" --go "$OUT/go-openblas.txt"
if command -v "$(go env GOPATH)/bin/benchstat" >/dev/null; then
  echo
  echo '```'
  "$(go env GOPATH)/bin/benchstat" -filter '.unit:ms/image' pure="$OUT/go-pure.txt" openblas="$OUT/go-openblas.txt" 2>/dev/null | grep -v '^\(goos\|goarch\|pkg\|cpu\):' || true
  echo '```'
fi
