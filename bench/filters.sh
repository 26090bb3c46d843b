#!/usr/bin/env bash
# Filter visualization, side by side: one plain gradient-ascent step at MobileNetV2-1.4 block 6
# (nsfwjs graph-model expanded_conv_5/add in tbviz; torchvision features[:7] in PyTorch),
# 224x224, for 1 and 16 channels at once, both on THREADS threads (default 2).
# Needs `make bench-setup` (python3-torch, python3-torchvision) and `make setup` (graph-models).
# Prints the ms per step of each side and the ratio tbviz/PyTorch (below 1: tbviz is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
TAGS=${TAGS:-}   # TAGS=openblas CGO_LDFLAGS=-lopenblas for the OpenBLAS GEMM
go_out=$(GOMAXPROCS=$THREADS go test ${TAGS:+-tags $TAGS} -run '^$' -bench 'StepMobileNetV2/none' -benchtime 10x ./vizhooks/filters/)
echo "$go_out" | grep Benchmark
torch_out=$(/usr/bin/python3 bench/filters_torch.py --threads "$THREADS")
echo "$torch_out"
for n in 1 16; do
  g=$(echo "$go_out" | awk -v n="$n" '$1 ~ "channels="n"-" {for (i=1;i<=NF;i++) if ($(i+1)=="ms/step") print $i}')
  t=$(echo "$torch_out" | /usr/bin/python3 -c "import sys,json; print(next(r['ms_per_step'] for r in map(json.loads, sys.stdin) if r['channels']==$n))")
  /usr/bin/python3 -c "print(f'channels={$n}: tbviz {float(\"$g\"):.1f} ms/step, PyTorch {float(\"$t\"):.1f} ms/step, ratio tbviz/PyTorch {float(\"$g\")/float(\"$t\"):.2f}')"
done
