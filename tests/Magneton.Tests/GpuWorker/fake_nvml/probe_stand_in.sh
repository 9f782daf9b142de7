#!/bin/sh
# Plays "python -m magneton_probe" for the GPU worker's tests, without torch: the capture writes the probe's raw
# synthetic bundle plus that run's NVML samples next to it; finalize reads those samples instead of the worker's,
# since the fake NVML's timeline is not the synthetic run's. Everything after finalize is the real probe.
# The job's own arguments steer it: --activation A (the synthetic model's activation), --fail (exits 1 after a
# CUDA-like error), --hang-while FILE (runs as long as FILE exists), --dump-env FILE (writes its environment there),
# --touch FILE (creates FILE: a side effect a refused job must not have), --slow (the synthetic job's extra work:
# slower matrix-product kernels, longer iterations).
out=""; system=""; act="gelu_new"; hang=""; fail=""; dumpenv=""; touchf=""; slow=""; prev=""
for a in "$@"; do
  case "$prev" in --out) out="$a";; --system) system="$a";; --activation) act="$a";; --hang-while) hang="$a";;
    --dump-env) dumpenv="$a";; --touch) touchf="$a";; esac
  [ "$a" = "--fail" ] && fail=1
  [ "$a" = "--slow" ] && slow=--slow
  prev="$a"
done
for a in "$@"; do
  [ "$a" = finalize ] && exec python3 -m magneton_probe finalize --out "$out" --samples "$out.samples.csv"
done
echo "probe stand-in: $*"
[ -n "$dumpenv" ] && env > "$dumpenv"
[ -n "$touchf" ] && : > "$touchf"
[ -n "$hang" ] && { echo "running until $hang is removed"; while [ -e "$hang" ]; do sleep 0.1; done; }
[ -n "$fail" ] && { echo "job.py: CUDA out of memory" >&2; exit 1; }
exec python3 -m magneton_probe synthetic "$out" --raw --samples-out "$out.samples.csv" --activation "$act" --system "$system" $slow
