#!/usr/bin/env bash
# The capture queue without a GPU: one magneton silo and one magneton worker process on the NVML test double
# (tests/.../fake_nvml.c, two fake GPUs, so two workers) with the probe stand-in (synthetic capture, real finalize).
# Times one `submit --wait` at a time (queue-to-run latency: beat, capture, finalize, check, upload, report) and
# 8 jobs submitted at once (throughput over the two GPUs). The stand-in capture itself takes ~0.4 s.
# Needs a Release build of src/Client, gcc and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
M="dotnet $ROOT/src/Client/bin/Release/net10.0/magneton.dll"
W=$(mktemp -d /tmp/magneton-worker-bench-XXXX)
trap 'kill $WK $SILO 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
gcc -shared -fPIC -O2 -o "$W/libnvidia-ml.so.1" tests/Magneton.Tests/GpuWorker/fake_nvml/fake_nvml.c
cp tests/Magneton.Tests/GpuWorker/fake_nvml/probe_stand_in.sh "$W/python3-stand-in"; chmod +x "$W/python3-stand-in"
$M silo --silo-port 21811 --gateway-port 31811 --storage-dir "$W/store" > "$W/silo.out" 2>/dev/null & SILO=$!
until grep -q ready "$W/silo.out" 2>/dev/null; do sleep 0.2; done
LD_LIBRARY_PATH=$W MAGNETON_PROBE_PATH=$ROOT/src/GpuWorker/probe $M worker --cluster 127.0.0.1:31811 --node bench --allow-any-command \
    --work-dir "$W/work" --python "$W/python3-stand-in" > "$W/worker.out" 2>/dev/null & WK=$!
until grep -q ready "$W/worker.out" 2>/dev/null; do sleep 0.2; done
now() { date +%s.%N; }
echo "one job at a time (submit --wait, each a new CLI process):"
for i in 1 2 3 4 5; do
  s=$(now); $M submit --cluster 127.0.0.1:31811 --system seq-$i --wait -- job.py --activation gelu_new >/dev/null 2>&1
  echo "  job $i: $(echo "$(now) - $s" | bc | cut -c1-5) s"
done
echo "8 jobs at once on 2 GPUs:"
s=$(now)
for i in 1 2 3 4 5 6 7 8; do
  $M submit --cluster 127.0.0.1:31811 --system par-$i --wait -- job.py --activation gelu_pytorch_tanh >/dev/null 2>&1 &
done
wait $(jobs -p | grep -v -e "^$WK$" -e "^$SILO$")
echo "  all 8 done in $(echo "$(now) - $s" | bc | cut -c1-5) s"
$M workers --cluster 127.0.0.1:31811 | head -3
