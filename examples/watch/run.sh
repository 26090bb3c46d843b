#!/usr/bin/env bash
# examples/watch/run.sh: a training run in miniature, watched by tbviz.
#
# Starts `tbviz watch` in the background on WORK/train, copies a SavedModel
# into WORK/train/export/<step> N times, one by one with a pause (as a
# training loop exporting every epoch would), waits until tbviz recorded
# every export, stops it with SIGINT (Ctrl-C), and prints the logdir's
# content with `tbviz events --json`.
#
# usage: examples/watch/run.sh [WORK]
#   TBVIZ  tbviz binary (default: tbviz on PATH; `make build` gives bin/tbviz)
#   MODEL  SavedModel to copy (default: examples/cifar10/model)
#   IMAGE  image to explain (default: examples/cifar10/images/chelsea.png)
#   N      number of exports (default 3); PAUSE seconds between them (default 1)
# Then: tensorboard --logdir WORK/logs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TBVIZ=${TBVIZ:-tbviz}
MODEL=${MODEL:-$here/../cifar10/model}
IMAGE=${IMAGE:-$here/../cifar10/images/chelsea.png}
N=${N:-3}
PAUSE=${PAUSE:-1}
work=${1:-$(mktemp -d)}
mkdir -p "$work/train/export"

"$TBVIZ" watch --logdir "$work/logs" --images "$IMAGE" --settle 300ms "$work/train" 2>"$work/watch.log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT

for i in $(seq 1 "$N"); do
  # In place, file by file, as a trainer writes: tbviz waits until the
  # export is complete and unchanged for --settle before reading it.
  cp -r "$MODEL" "$work/train/export/$((i * 100))"
  sleep "$PAUSE"
done

# Wait (up to 120 s) until the state file records every export as done.
for _ in $(seq 1 240); do
  done=$(grep -c '"status": "done"' "$work/logs/.tbviz-watch.json" 2>/dev/null || true)
  [ "${done:-0}" -ge "$N" ] && break
  sleep 0.5
done
kill -INT "$pid"
wait "$pid"
trap - EXIT
cat "$work/watch.log" >&2
"$TBVIZ" events --json "$work/logs"
