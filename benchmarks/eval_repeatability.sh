#!/usr/bin/env bash
# Same model, same build, same bytes (issue 18): the issue's eval, run N times one after the other and
# then K times at once, each run's prediction files compared byte for byte with the first run's.
#   bash benchmarks/eval_repeatability.sh [WORKDIR] [N=10] [K=4]
# Prints one line per run ("run 3: 0 of 13 files differ") and exits 1 if any file differs.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"; n="${2:-10}"; k="${3:-4}"
S="$here/../shared/data/coco_sample"; M="$here/../shared/models/movenet_lightning_int8.onnx"
mkdir -p "$work" && cd "$work"
rm -rf data runs && mkdir runs
robustpose-bench build coco-c --images "$S" --ann "$S/test_coco.json" --data data --no-progress \
    --corruptions gaussian_noise,shot_noise,fog,motion_blur --severities 1,2,3 >/dev/null
ev() {
  robustpose-bench eval "$M" --spec movenet --dataset coco-c --images "$S" --ann "$S/test_coco.json" --data data \
      --boxes "$S/test_coco_det_AP_H_56.json" --no-flip --partial --intra-op-threads 1 --no-progress \
      -o "runs/$1/r.json" >/dev/null
}
compare() {
  local bad=0 total=0 f
  for f in $(cd runs/1 && find . -path '*predictions*' -name results.json | sort); do
    total=$((total + 1)); cmp -s "runs/1/$f" "runs/$1/$f" || bad=$((bad + 1))
  done
  echo "run $1: $bad of $total files differ from run 1"
  [ "$bad" -eq 0 ]
}
status=0
for i in $(seq 1 "$n"); do ev "$i"; [ "$i" -eq 1 ] || compare "$i" || status=1; done
pids=()
for j in $(seq 1 "$k"); do ev "c$j" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
for j in $(seq 1 "$k"); do compare "c$j" || status=1; done
exit $status
