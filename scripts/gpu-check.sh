#!/usr/bin/env bash
# The GPU check, run once on a lent GPU machine (PyTorch present, no network, maybe no .NET SDK):
#   1. nvidia-smi, `magneton gpus`, 1.5 s of NVML samples (readings and the counter's update period);
#   2. the probe installed (pip into a scratch directory, else PYTHONPATH) and its torch-vs-pure fingerprint selftest;
#   3. `magneton capture` of the GPT-2 gelu pair (src/GpuWorker/probe/examples/gpt2_gelu.py; HF transformers when
#      installed, else the example's plain-torch GPT-2 with the same module paths and activations);
#   4. capture overhead (energy pass against the uninstrumented baseline), replay repeatability (the longest
#      operators replayed twice, within 3 %), `magneton compare` on the fresh pair expecting the gelu finding;
#   5. `magneton worker` on this GPU under a local `magneton silo`: one capture submitted with `magneton submit --wait`
#      (the real NVML binding and the probe through the worker path, uploaded to the silo's store);
#   6. a table, and $OUT/gpu-check.json with the numbers.
# Needs the self-contained CLI built beforehand on a machine with the SDK: scripts/gpu-publish.sh (-> .tmp/gpu).
# Everything it writes goes under $OUT (default .tmp/gpu-check). About 3-5 minutes on an H100.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/.tmp/gpu-check}
mkdir -p "$OUT/work"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
MAGNETON=${MAGNETON:-$ROOT/.tmp/gpu/magneton}
PY=${PYTHON:-python3}
PROBE_SRC=$ROOT/src/GpuWorker/probe
EXAMPLE=$PROBE_SRC/examples/gpt2_gelu.py
START=$(date +%s)
export DOTNET_BUNDLE_EXTRACT_BASE_DIR=$OUT/work/dotnet-bundle DOTNET_CLI_TELEMETRY_OPTOUT=1 PYTHONDONTWRITEBYTECODE=1
step() { echo; echo "== $* [$(($(date +%s) - START)) s]"; }
fail=0

step "GPU and driver"
nvidia-smi --query-gpu=index,name,driver_version,power.draw,power.limit,temperature.gpu,clocks.sm,memory.used \
    --format=csv || echo "nvidia-smi failed"
if [ ! -x "$MAGNETON" ]; then
    echo "gpu-check: $MAGNETON is missing: run scripts/gpu-publish.sh on a machine with the .NET SDK and carry .tmp/gpu"
    exit 2
fi
"$MAGNETON" --version
timeout 60 "$MAGNETON" gpus || fail=1
timeout 60 "$MAGNETON" power --sample 1.5 --out "$OUT/nvml_idle.csv" --json | tee "$OUT/nvml_idle.json" || fail=1

step "Python, torch, transformers"
timeout 120 "$PY" -c "import sys, torch; print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda, '|', torch.cuda.get_device_name(0))" || { echo "gpu-check: no usable torch"; exit 2; }
if timeout 120 "$PY" -c "import transformers; print('transformers', transformers.__version__)"; then
    IMPL=transformers
else
    IMPL=builtin
    echo "transformers is not installed: the example runs its plain-torch GPT-2 (same module paths, same two activations)"
fi

step "Install the probe"
rm -rf "$OUT/work/probe-src" "$OUT/work/site"
cp -r "$PROBE_SRC" "$OUT/work/probe-src"   # pip builds in the source tree; keep the checkout clean
if timeout 180 "$PY" -m pip install --no-deps --no-build-isolation --no-index --quiet --target "$OUT/work/site" \
        "$OUT/work/probe-src" > "$OUT/pip-install.log" 2>&1; then
    export PYTHONPATH=$OUT/work/site${PYTHONPATH:+:$PYTHONPATH}
    echo "installed with pip into $OUT/work/site"
else
    export PYTHONPATH=$PROBE_SRC${PYTHONPATH:+:$PYTHONPATH}
    echo "pip install failed ($(grep -m1 -i error "$OUT/pip-install.log")): using PYTHONPATH=$PROBE_SRC"
fi
"$PY" -c "import magneton_probe, os; print('magneton_probe', magneton_probe.__version__, 'from', os.path.dirname(magneton_probe.__file__))"
timeout 180 "$PY" -m magneton_probe selftest || fail=1

step "Capture the GPT-2 gelu pair"
rm -rf "$OUT/pair"
mkdir -p "$OUT/pair"
for act in gelu_new gelu_pytorch_tanh; do
    role=A
    [ "$act" = gelu_pytorch_tanh ] && role=B
    dir=$OUT/pair/$role-gpt2-$act
    echo "-- $role: $act"
    t0=$(date +%s)
    timeout 300 "$MAGNETON" capture --system "gpt2-$act" --out "$dir" --replay-repeat 2 -- \
        "$PY" "$EXAMPLE" --activation "$act" || { echo "capture $act failed"; fail=1; }
    echo "capture $act took $(($(date +%s) - t0)) s"
done

step "Compare the fresh pair"
A=$OUT/pair/A-gpt2-gelu_new
B=$OUT/pair/B-gpt2-gelu_pytorch_tanh
if [ -f "$A/measure.json" ] && [ -f "$B/measure.json" ]; then
    timeout 180 "$MAGNETON" compare "$A" "$B" --json "$OUT/report.json" || fail=1
else
    echo "no pair to compare"
    fail=1
fi

step "GPU worker: silo, worker, submit"
rm -rf "$OUT/cluster"
mkdir -p "$OUT/cluster"
GW=127.0.0.1:31790
"$MAGNETON" silo --storage-dir "$OUT/cluster/store" --silo-port 21790 --gateway-port 31790 \
    > "$OUT/cluster/silo.out" 2> "$OUT/cluster/silo.log" &
SILO_PID=$!
for _ in $(seq 1 60); do grep -q "ready" "$OUT/cluster/silo.out" 2>/dev/null && break; sleep 0.5; done
cat "$OUT/cluster/silo.out"
"$MAGNETON" worker --cluster $GW --node gpu-check --gpu 0 --work-dir "$OUT/cluster/work" --python "$PY" --allow-any-command \
    > "$OUT/cluster/worker.out" 2> "$OUT/cluster/worker.log" &
WORKER_PID=$!
for _ in $(seq 1 60); do grep -q "ready" "$OUT/cluster/worker.out" 2>/dev/null && break; sleep 0.5; done
cat "$OUT/cluster/worker.out"
t0=$(date +%s)
if RUN=$(timeout 240 "$MAGNETON" submit --cluster $GW --system gpt2-gelu_new-worker --node gpu-check --wait \
        --no-replay -- "$PY" "$EXAMPLE" --activation gelu_new); then
    echo "worker capture: $RUN in $(($(date +%s) - t0)) s"
    echo "$RUN" > "$OUT/cluster/run.txt"
    timeout 60 "$MAGNETON" workers --cluster $GW
    timeout 60 "$MAGNETON" runs --cluster $GW
else
    echo "worker capture failed; worker log tail:"
    tail -20 "$OUT/cluster/worker.log"
    fail=1
fi
kill -TERM $WORKER_PID 2>/dev/null; wait $WORKER_PID 2>/dev/null; tail -1 "$OUT/cluster/worker.out"
kill -TERM $SILO_PID 2>/dev/null; wait $SILO_PID 2>/dev/null

step "Summary"
"$PY" - "$OUT" "$IMPL" <<'PYEOF' || fail=1
import json, os, sys

out, impl = sys.argv[1], sys.argv[2]
res = {"implementation": impl, "checks": {}}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as ex:
        print("cannot read %s: %s" % (path, ex))
        return None


nv = load(os.path.join(out, "nvml_idle.json")) or {}
res["nvml_idle"] = nv
rows = []
for role, act in (("A", "gelu_new"), ("B", "gelu_pytorch_tanh")):
    d = os.path.join(out, "pair", "%s-gpt2-%s" % (role, act))
    m, r = load(os.path.join(d, "measure.json")), load(os.path.join(d, "replay.json"))
    if not m:
        continue
    b, ep = m["baseline"], m["energy_pass"]
    al = ep.get("alignment", {})
    rec = {"system": act, "baseline_ms": b["iter_s"] * 1e3, "baseline_j": b["iter_energy_counter_j"],
           "pass_ms": ep["iter_s"] * 1e3, "overhead": ep["iter_s"] / b["iter_s"] - 1,
           "aligned": "%s/%s" % (al.get("aligned_nodes"), al.get("nodes")), "unaligned": al.get("unaligned_ops"),
           "gpu": (m.get("node") or {}).get("gpu") or m.get("probe", {}).get("gpu"),
           "update_period_ms": m.get("nvml", {}).get("update_period_ms")}
    if r:
        items = r.get("items", [])
        rec["replay_items"] = len(items)
        rec["replay_graph"] = sum(1 for i in items if i.get("mode") == "graph")
        rec["replay_errors"] = sum(1 for i in items if "error" in i)
        rec["idle_w"] = (r.get("idle") or {}).get("power_w")
        devs = []
        for rep in r.get("repeats", []):
            first = items[rep["repeat_of"]]
            if first.get("call_energy_mj") and rep.get("call_energy_mj"):
                devs.append({"op": first["op"], "first_mj": first["call_energy_mj"], "again_mj": rep["call_energy_mj"],
                             "dev": abs(rep["call_energy_mj"] / first["call_energy_mj"] - 1)})
        rec["repeats"] = devs
        act_item = next((i for i in items if i.get("kind") == "module" and i.get("module", "").endswith("mlp.act")), None)
        if act_item:
            rec["act_call_us"] = act_item.get("call_us")
            rec["act_call_mj"] = act_item.get("call_energy_mj")
    rows.append(rec)
res["systems"] = rows

print("%-20s %9s %8s %9s %9s %8s %7s %9s %9s %8s" % ("system", "base ms", "base J", "pass ms", "overhead", "aligned",
                                                   "replays", "act us", "act mJ", "idle W"))
for x in rows:
    f = lambda v, fmt: (fmt % v) if isinstance(v, (int, float)) else "-"
    print("%-20s %9s %8s %9s %9s %8s %7s %9s %9s %8s" % (
        x["system"], f(x["baseline_ms"], "%.3f"), f(x["baseline_j"], "%.3f"), f(x["pass_ms"], "%.3f"),
        f(x["overhead"] * 100, "%+.1f%%"), x["aligned"], "%s/%s" % (x.get("replay_graph", "-"), x.get("replay_items", "-")),
        f(x.get("act_call_us"), "%.1f"), f(x.get("act_call_mj"), "%.2f"), f(x.get("idle_w"), "%.0f")))
print("H100 reference (samples): act A 213 us / 105.9 mJ, B 24.2 us / 16.1 mJ per call; job A 3.007 J / 6.76 ms, "
      "B 2.810 J / 7.18 ms")

ok = True
overheads = [x["overhead"] for x in rows]
res["checks"]["overhead_max"] = max(overheads) if overheads else None
print("capture overhead (energy pass over baseline, per iteration): %s (goal <= 5 %%)"
      % ", ".join("%+.1f %%" % (o * 100) for o in overheads))
devs = [d for x in rows for d in x.get("repeats", [])]
for d in devs:
    print("replay repeat %-42s %.3f mJ then %.3f mJ: %.2f %%" % (d["op"][:42], d["first_mj"], d["again_mj"], d["dev"] * 100))
rep_ok = bool(devs) and all(d["dev"] <= 0.03 for d in devs)
res["checks"]["replay_repeatable"] = rep_ok
print("replay repeatability within 3 %%: %s" % ("yes" if rep_ok else "NO"))
ok &= rep_ok

rep = load(os.path.join(out, "report.json"))
found = False
if rep:
    for fnd in rep.get("findings", []):
        mods = [m for side in ("a", "b") for m in fnd.get("cause", {}).get("modules", {}).get(side, [])]
        text = json.dumps(fnd)
        if fnd.get("verdict") == "waste" and fnd.get("wasteful") == "a" and ("mlp.act" in text or "GELU" in text):
            found = True
            print("finding: WASTE in A %s: %.1f mJ/iteration more, %.2fx energy, %.2fx time, %s x%d"
                  % (", ".join(mods[:2]), fnd["energy_delta_j"] * 1e3, fnd["energy_ratio"], fnd["time_ratio"],
                     fnd.get("category"), fnd.get("instances", 0)))
    res["report_findings"] = len(rep.get("findings", []))
res["checks"]["gelu_finding"] = found
print("magneton compare reproduces the gpt2-gelu finding: %s" % ("yes" if found else "NO"))
ok &= found
run_file = os.path.join(out, "cluster", "run.txt")
worker_ok = os.path.exists(run_file) and open(run_file).read().startswith("run:")
res["checks"]["worker_capture"] = worker_ok
print("magneton worker captured a submitted job and uploaded it: %s" % ("yes" if worker_ok else "NO"))
ok &= worker_ok
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(res, f, indent=1)
sys.exit(0 if ok else 1)
PYEOF
rm -rf "$OUT/work"   # scratch (pip target, probe copy, .NET bundle extraction); the bundles and logs stay
echo
echo "gpu-check: $([ $fail -eq 0 ] && echo PASSED || echo FAILED) in $(($(date +%s) - START)) s; output in $OUT"
sleep 0.5   # let tee flush the log
exit $fail
