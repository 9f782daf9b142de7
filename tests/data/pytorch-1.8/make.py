#!/usr/bin/env python3
"""Writes A.json and B.json: two small traces by hand in the PyTorch 1.8-1.10 profiler format (see README.md).

Run from this directory: python3 make.py. The output is committed; the tests read it, not this script.
"""
import json

PID, TID, GPU, STREAM = 13721, "123", 0, "stream 7"


def x(cat, name, ts, dur, pid=PID, tid=TID, **args):
    e = {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur}
    if args:
        e["args"] = {k.replace("_", " "): v for k, v in args.items()}
    return e


def flow(ph, id_, ts, pid, tid):
    e = {"ph": ph, "id": id_, "pid": pid, "tid": tid, "ts": ts, "cat": "async", "name": "launch"}
    if ph == "f":
        e["bp"] = "e"
    return e


def trace(activation, kernel_us):
    events, ext, corr = [], 1, 1000
    for step in (1, 2, 3):
        t0 = 1000 * step
        events.append(x("Operator", f"ProfilerStep#{step}", t0, 900, Input_Dims=[], External_id=ext))
        ext += 1
        # aten::to: a host-to-device copy, linked by args.correlation as 1.8 wrote it.
        events.append(x("Operator", "aten::to", t0 + 5, 40, Input_Dims=[[32, 64]], External_id=ext))
        events.append(x("Runtime", "cudaMemcpyAsync", t0 + 10, 20, correlation=corr, external_id=ext))
        events.append(x("Memcpy", "Memcpy HtoD (Pageable -> Device)", t0 + 35, 8, GPU, STREAM,
                        stream=7, correlation=corr, external_id=ext, device=GPU))
        ext += 1; corr += 1
        events.append(x("Operator", "aten::linear", t0 + 50, 300, Input_Dims=[[32, 64], [64, 64], [64]], External_id=ext))
        ext += 1
        events.append(x("Operator", "aten::t", t0 + 55, 20, Input_Dims=[[64, 64]], External_id=ext))
        ext += 1
        events.append(x("Operator", "aten::addmm", t0 + 80, 200, Input_Dims=[[64], [32, 64], [64, 64]], External_id=ext))
        events.append(x("Runtime", "cudaLaunchKernel", t0 + 100, 20, correlation=corr, external_id=ext))
        events.append(x("Kernel", "volta_sgemm_64x32_sliced1x4_tn", t0 + 130, 150, GPU, STREAM,
                        queued=0, device=GPU, context=1, stream=7, correlation=corr, external_id=ext))
        events.append(flow("s", corr, t0 + 100, PID, TID))
        events.append(flow("f", corr, t0 + 130, GPU, STREAM))
        ext += 1; corr += 1
        # The activation: its launch and kernel carry no args.correlation, only the "async" flow pair links them.
        events.append(x("Operator", f"aten::{activation}", t0 + 400, 100, Input_Dims=[[32, 64]], External_id=ext))
        events.append(x("Runtime", "cudaLaunchKernel", t0 + 420, 15, external_id=ext))
        events.append(x("Kernel", f"void at::native::vectorized_elementwise_kernel<4, {activation}_kernel>", t0 + 440,
                        kernel_us, GPU, STREAM, queued=0, device=GPU, context=1, stream=7, external_id=ext))
        events.append(flow("s", corr, t0 + 420, PID, TID))
        events.append(flow("f", corr, t0 + 440, GPU, STREAM))
        ext += 1; corr += 1
    events.append(x("Trace", "PyTorch Profiler (0)", 900, 3100, "Spans", "PyTorch Profiler"))
    return {"schemaVersion": 1, "traceEvents": events}


for name, activation, kernel_us in (("A.json", "relu", 30), ("B.json", "gelu", 60)):
    with open(name, "w") as f:
        t = trace(activation, kernel_us)
        f.write('{"schemaVersion": 1, "traceEvents": [\n')
        f.write(",\n".join(json.dumps(e) for e in t["traceEvents"]))
        f.write("\n]}\n")
