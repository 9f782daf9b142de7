#!/usr/bin/env bash
# Scale check (issue 5): a campaign of N comparisons on a 3-silo localhost cluster.
# The versions are honest transformations of the gpt2-gelu sample: copies of A (gelu_new) and B
# (gelu_pytorch_tanh), each relabelled with its own system name so that every version is a distinct run
# whose analysis is exactly the original's. Prints throughput and each silo's share of the work.
# Usage: bench/campaign-scale.sh [N=50]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
work=.tmp/campaign-scale
rm -rf "$work" && mkdir -p "$work/versions"
dotnet build src/Client -c Release -v q -nologo >/dev/null
M="dotnet $PWD/src/Client/bin/Release/net10.0/magneton.dll"

python3 - "$n" "$work/versions" <<'PY'
import json, os, shutil, sys
n, out = int(sys.argv[1]), sys.argv[2]
src = {"A": "samples/gpt2-gelu/A-hf-gpt2-gelu_new", "B": "samples/gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh"}
for i in range(n):
    side = "A" if i % 2 == 0 else "B"
    d = os.path.join(out, f"v{i:03d}")
    shutil.copytree(src[side], d)
    p = os.path.join(d, "dataflow.json")
    text = open(p).read()
    system = json.loads(text)["system"]
    open(p, "w").write(text.replace(f'"system":"{system}"', f'"system":"{system}-v{i:03d}"', 1))
PY

pids=()
$M silo --silo-port 21111 --gateway-port 31000 --storage-dir "$work/store" >"$work/silo1.out" 2>"$work/silo1.err" & pids+=($!)
sleep 2
$M silo --silo-port 21112 --gateway-port 31001 --primary 127.0.0.1:21111 --storage-dir "$work/store" >"$work/silo2.out" 2>"$work/silo2.err" & pids+=($!)
$M silo --silo-port 21113 --gateway-port 31002 --primary 127.0.0.1:21111 --storage-dir "$work/store" >"$work/silo3.out" 2>"$work/silo3.err" & pids+=($!)
for f in silo1 silo2 silo3; do for _ in $(seq 100); do grep -q ready "$work/$f.out" && break; sleep 0.1; done; done

start=$(date +%s.%N)
$M campaign --cluster 127.0.0.1:31000,127.0.0.1:31001,127.0.0.1:31002 \
    --baseline samples/gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh "$work"/versions/v* \
    --json "$work/campaign.json" --quiet 2>"$work/client.err"
end=$(date +%s.%N)
kill -TERM "${pids[@]}"; wait "${pids[@]}" || true

python3 - "$work" "$start" "$end" "$n" <<'PY'
import json, re, sys
work, start, end, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
r = json.load(open(f"{work}/campaign.json"))
waste = sum(1 for v in r["versions"] if v["waste_in_version"] > 0)
wall = end - start
print(f"campaign: {n} comparisons in {wall:.1f} s (upload of {n} bundles included) = {n / wall:.2f} comparisons/s; "
      f"{waste} versions with waste (expected {(n + 1) // 2})")
stats = []
for i in (1, 2, 3):
    line = [l for l in open(f"{work}/silo{i}.out") if "stopped" in l][-1]
    stats.append(dict(re.findall(r"(\w+)=(\S+)", line)))
for key in ("ingested", "segments", "diagnoses", "jobs"):
    total = sum(int(s[key]) for s in stats) or 1
    print(f"{key:>10}: " + "  ".join(f"{s['silo']} {int(s[key])} ({100 * int(s[key]) / total:.0f}%)" for s in stats))
PY
