#!/usr/bin/env bash
# Publishes the magneton CLI self-contained for linux-x64 as one compressed file, for a GPU machine without the .NET
# SDK: scripts/gpu-check.sh runs it from .tmp/gpu/magneton (carry .tmp/gpu along to the machine).
# Not trimmed: trimming an Orleans app silently changes behaviour (IL2104 on Orleans.Core and Orleans.Serialization;
# a trimmed client returned records missing members). Compressed: ~43 MiB instead of ~83 MiB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$ROOT/.tmp/gpu}
LIMIT=$((64 * 1024 * 1024))

rm -rf "$DEST"
dotnet publish "$ROOT/src/Client" -c Release -r linux-x64 --self-contained \
    -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:DebugType=none -o "$DEST" >&2
rm -f "$DEST"/*.pdb "$DEST"/*.dbg
size=$(du -cb "$DEST" | tail -1 | cut -f1)
echo "published $DEST: $(ls "$DEST" | tr '\n' ' ')($((size / 1024 / 1024)) MiB)"
if [ "$size" -gt "$LIMIT" ]; then
    echo "gpu-publish: $DEST is $size bytes, over the 64 MiB a device run can carry" >&2
    exit 1
fi
"$DEST/magneton" --version
