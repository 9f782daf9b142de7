#!/usr/bin/env bash
# Writes `magneton compare --json` of every sample pair (and of the plain-trace pairs in tests/data/hta) with the
# timing fields removed, so two builds' reports can be diffed: scripts/compare-reports.sh MAGNETON OUT_DIR
# (run from a checkout's root; paths in the report are made relative to it). Then: diff -r OUT_BEFORE OUT_AFTER.
set -u
bin=$1; out=$2
mkdir -p "$out"
strip() { python3 -c '
import json, os, sys
root = os.getcwd() + "/"
def clean(o):
    if isinstance(o, dict): return {k: clean(v) for k, v in o.items() if "elapsed" not in k}
    if isinstance(o, list): return [clean(v) for v in o]
    if isinstance(o, str): return o.replace(root, "")  # the checkout, not the report
    return o
print(json.dumps(clean(json.load(open(sys.argv[1]))), indent=1, sort_keys=True))' "$1"; }
run() { # name a b
  "$bin" compare "$2" "$3" --quiet --json "$out/$1.raw.json" > "$out/$1.stdout" 2> "$out/$1.stderr"
  echo "rc=$?" >> "$out/$1.stdout"
  [ -f "$out/$1.raw.json" ] && strip "$out/$1.raw.json" > "$out/$1.json" && rm "$out/$1.raw.json"
}
for pair in samples/*/; do
  name=$(basename "$pair")
  run "$name" "$pair"A-* "$pair"B-*
done
run hta-trace_compare tests/data/hta/trace_compare/base/base.json.gz tests/data/hta/trace_compare/test/test.json.gz
run hta-trace_diff tests/data/hta/trace_diff/control/control.json.gz tests/data/hta/trace_diff/test/test.json.gz
