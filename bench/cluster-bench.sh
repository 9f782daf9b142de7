#!/usr/bin/env bash
# Issue 16: `magneton bench --operators N` embedded, then through two `magneton silo` processes on loopback, and the
# silo's "job done" line (where the cluster's time went). Needs a Release build of src/Client.
#
#   bench/cluster-bench.sh 100k                     # pair generated once into .tmp/bench-pair-100k, then reused
#   SILO_ENV="DOTNET_TC_CallCountingDelayMs=100" bench/cluster-bench.sh 100k   # silos with the runtime's tiering delay
#   BENCH_ARGS=--upload bench/cluster-bench.sh 100k cluster   # bundles uploaded into the silos' store first (upload_ms)
#   MAGNETON_BIN=/tmp/old/magneton bench/cluster-bench.sh 100k   # another build
#
# Prints the embedded and the cluster bench's main fields and the ratio; the full JSON and the logs stay in
# .tmp/cluster-bench/. The silos store into a fresh directory each run (nothing is answered from an earlier job).
set -u
cd "$(dirname "$0")/.."
N=${1:?usage: bench/cluster-bench.sh N [embedded|cluster|both]}
MODE=${2:-both}
BIN=${MAGNETON_BIN:-$PWD/src/Client/bin/Release/net10.0/magneton}
PAIR=$PWD/.tmp/bench-pair-$N
OUT=$PWD/.tmp/cluster-bench
mkdir -p "$PAIR" "$OUT"
summary() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], {k: d.get(k) for k in ['operators','upload_ms','compare_ms','match_ms','bundle_ingest_ms','peak_mb','findings','planted_reported','false_findings']}, 'silos', [s['peak_mb'] for s in d.get('silos') or []])" "$1" "$2"
}
if [ "$MODE" != cluster ]; then
    "$BIN" bench --operators "$N" --out-dir "$PAIR" --reuse --no-python >"$OUT/embedded.json" 2>"$OUT/embedded.log" || { tail -3 "$OUT/embedded.log"; exit 1; }
    summary "$OUT/embedded.json" embedded
fi
[ "$MODE" = embedded ] && exit 0
store=$(mktemp -d "$OUT/store.XXXX")
start_silo() {
    env ${SILO_ENV:-} "$BIN" silo --silo-port "$1" --gateway-port "$2" ${3:+--primary 127.0.0.1:$3} --storage-dir "$store" --allow-path "$PAIR" >"$OUT/silo-$1.log" 2>&1 &
    echo $!
    for _ in $(seq 200); do grep -q "ready" "$OUT/silo-$1.log" && return; sleep 0.1; done
}
s1=$(start_silo 21711 31711)
s2=$(start_silo 21712 31712 21711)
"$BIN" bench --operators "$N" --out-dir "$PAIR" --reuse --no-python --cluster 127.0.0.1:31711,127.0.0.1:31712 ${BENCH_ARGS:-} >"$OUT/cluster.json" 2>"$OUT/cluster.log"
rc=$?
kill -TERM "$s1" "$s2" 2>/dev/null
for _ in $(seq 100); do kill -0 "$s1" 2>/dev/null || kill -0 "$s2" 2>/dev/null || break; sleep 0.1; done
kill -9 "$s1" "$s2" 2>/dev/null
rm -rf "$store"
[ $rc -eq 0 ] || { tail -3 "$OUT/cluster.log"; exit 1; }
summary "$OUT/cluster.json" cluster
grep -h "operators a side" "$OUT"/silo-*.log | grep -v " 2383 operators" | sed 's/.*MatchingJobGrain\[13\] //'
if [ "$MODE" = both ]; then
    python3 -c "import json; e=json.load(open('$OUT/embedded.json')); c=json.load(open('$OUT/cluster.json')); print('ratio cluster/embedded compare_ms: %.2f' % (c['compare_ms']/e['compare_ms']))"
fi
