#!/usr/bin/env bash
# Two magneton silo processes on loopback (directory store, then blob storage on Azurite from .tmp/azurite):
# time a first cluster compare (uploads both bundles) and a repeat (stored report) for gpt2-gelu and llama.
# Needs a Release build of src/Client and Azurite installed by .ci/run (or npm install --prefix .tmp/azurite azurite@3.37.0).
cd "$(dirname "$0")/.."
M="$PWD/src/Client/bin/Release/net10.0/magneton.dll"
unset MAGNETON_BLOB_CONNECTION
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; local rc=$?; echo "$(echo "$(date +%s.%N) - $s" | bc | cut -c1-5) s rc=$rc"; }
run_pair() {
  for p in gpt2-gelu llama-generate-null; do
    echo "$1 $p first (upload+compare): $(t dotnet $M compare --cluster 127.0.0.1:31000 samples/$p/A-* samples/$p/B-* --quiet)"
    echo "$1 $p again (stored report): $(t dotnet $M compare --cluster 127.0.0.1:31000 samples/$p/A-* samples/$p/B-* --quiet)"
  done
}
dotnet $M silo --silo-port 21111 --gateway-port 31000 --storage-dir .tmp/cluster >/dev/null 2>&1 & S1=$!
dotnet $M silo --silo-port 21112 --gateway-port 31001 --primary 127.0.0.1:21111 --storage-dir .tmp/cluster >/dev/null 2>&1 & S2=$!
sleep 4
run_pair dir
kill $S1 $S2; wait $S1 $S2
.tmp/azurite/node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort 10009 --location /tmp/lead-az --disableTelemetry --skipApiVersionCheck --silent >/dev/null 2>&1 & AZ=$!
sleep 3
export MAGNETON_BLOB_CONNECTION="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10009/devstoreaccount1;"
dotnet $M silo --silo-port 21111 --gateway-port 31000 >/dev/null 2>&1 & S1=$!
dotnet $M silo --silo-port 21112 --gateway-port 31001 --primary 127.0.0.1:21111 >/dev/null 2>&1 & S2=$!
sleep 4
run_pair blob
kill $S1 $S2; wait $S1 $S2; kill $AZ; wait $AZ
rm -rf /tmp/lead-az
