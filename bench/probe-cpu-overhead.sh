#!/usr/bin/env bash
# The probe's overhead on the CPU: the profiler pass (torch.profiler, CPU activities, one range per iteration, no
# per-operator Python) against the plain uninstrumented iteration, as every capture records them in measure.json
# (energy_pass.iter_s / baseline.iter_s - 1). N probe-only CPU captures each of the tiny GPT-2 (HF transformers)
# and torchvision ResNet-18 (3x32x32), alternating, with a 2 s baseline. Needs root (scripts/torch-env.sh).
#   bench/probe-cpu-overhead.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3}
PY=$(scripts/torch-env.sh 2>/dev/null | tail -1)
W=$(mktemp -d /tmp/magneton-cpu-overhead-XXXX)
trap 'rm -rf "$W"' EXIT
ex=src/GpuWorker/probe/examples
gpt2=(--layers 2 --width 64 --heads 2 --batch 1 --seq 16 --vocab 128 --dtype float32)
for i in $(seq 1 "$N"); do
  "$PY" -m magneton_probe --out "$W/gpt2-$i" --system gpt2 --device cpu --baseline-seconds 2 -- \
      $ex/gpt2_gelu.py --activation gelu_new "${gpt2[@]}" >/dev/null 2>&1
  "$PY" -m magneton_probe --out "$W/resnet-$i" --system resnet --device cpu --baseline-seconds 2 -- \
      $ex/resnet_layout.py >/dev/null 2>&1
done
"$PY" - "$W" <<'PY'
import glob, json, os, statistics, sys
for job in ("gpt2", "resnet"):
    rows = []
    for d in sorted(glob.glob(os.path.join(sys.argv[1], job + "-*"))):
        m = json.load(open(os.path.join(d, "measure.json")))
        ops = len(json.load(open(os.path.join(d, "dataflow.json")))["nodes"])
        rows.append((m["baseline"]["iter_s"] * 1e3, m["energy_pass"]["iter_s"] * 1e3, m["energy_pass"]["overhead"] * 100,
                     m["semantic_pass_s"], ops, m["energy_pass"]["iterations"]))
    for b, e, o, s, ops, k in rows:
        print("%-7s %3d ops  plain %8.3f ms  profiled %8.3f ms (%d it)  overhead %+6.1f %%  semantic pass %.2f s"
              % (job, ops, b, e, k, o, s))
    print("%-7s median overhead %+.1f %%" % (job, statistics.median(r[2] for r in rows)))
PY
