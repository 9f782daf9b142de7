"""The energy pass: the job run K times under ``torch.profiler`` with nothing per operator in Python.

Kernels are attributed to semantic-pass operators after the fact (see :mod:`magneton_probe.align` for the
reasoning): the profiler records every operator natively (``cpu_op`` events from ATen's RecordFunction
callbacks in C++) and every launch and kernel through CUPTI; the probe adds only one ``record_function`` per
iteration (``magneton_iteration#<k>``) and the two sync marks ``mg_sync_begin`` / ``mg_sync_end`` (a 1000-cycle
GPU sleep each, bracketed by Unix-ns timestamps, which align the trace with the NVML samples). After the pass
the exported trace is aligned with the semantic pass and gets its ``mg#<k>#<trace_id>#<op>`` ranges; then it is
written as kineto.json.gz. ``record_shapes`` and stacks are off: the semantic pass has the shapes, and each
costs time per operator.
"""
import os
import tempfile
import time

from . import align, bundle

MAX_ITERATIONS = 60
MAX_RANGES = 20000


def default_iterations(iter_s, nodes):
    """About 0.6 s of the job, 3..60 iterations, at most ~20000 operator ranges (the reference's choice)."""
    k = int(min(max(0.6 / max(iter_s, 1e-5), 3), MAX_ITERATIONS))
    if nodes * k > MAX_RANGES:
        k = max(2, MAX_RANGES // max(nodes, 1))
    return k


def run_energy_pass(torch, run, iterations, workdir=None, device=None):
    """Runs the pass; returns (measure section, chrome-trace dict). On the CPU (``device.is_cuda`` false) the
    profiler records CPU activities only and the sync marks are empty ranges: there is no GPU to synchronise."""
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = device is None or device.is_cuda
    sync = device.sync if device is not None else torch.cuda.synchronize
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])

    def mark(name):
        with record_function(name):
            if cuda:
                torch.cuda._sleep(1000)

    with profile(activities=acts, record_shapes=False, with_stack=False, profile_memory=False) as prof:
        sync()
        s0 = time.time_ns()
        mark(align.SYNC_BEGIN)
        sync()
        s1 = time.time_ns()
        t = time.perf_counter()
        for k in range(iterations):
            with record_function(align.ITERATION_PREFIX + str(k)):
                run()
        sync()
        wall = time.perf_counter() - t
        s2 = time.time_ns()
        mark(align.SYNC_END)
        sync()
        s3 = time.time_ns()
    fd, path = tempfile.mkstemp(prefix="magneton-trace-", suffix=".json", dir=workdir)
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        trace = bundle.read_trace(path)
    finally:
        os.remove(path)
    section = {"iterations": iterations, "wall_s": wall, "iter_s": wall / iterations,
               "sync_begin_unix_ns": [s0, s1], "sync_end_unix_ns": [s2, s3],
               "profiler": {"activities": ["cpu", "cuda"] if cuda else ["cpu"], "record_shapes": False,
                            "with_stack": False, "python_ranges": "one per iteration (no per-operator ranges)"}}
    return section, trace


def attribute(trace, nodes):
    """Aligns the trace with the semantic nodes (sets their trace_id) and adds the mg# ranges."""
    return align.rewrite_trace(trace, nodes)
