"""The uninstrumented baseline: the job back to back for ~2 s with nothing attached.

Its per-iteration time is the reference for the capture overhead, and its energy (filled in from the counter
samples by :mod:`magneton_probe.finalize`) is the whole-job ground truth: ``iter_energy_counter_j``.
measure.json fields (Core's MeasureReader): ``baseline`` {iterations, wall_s, iter_s, energy_counter_j,
iter_energy_counter_j, window_unix_ns}, ``energy_pass`` {iterations, wall_s, iter_s, sync_begin_unix_ns,
sync_end_unix_ns}, optional ``semantic_pass_s``; the probe adds ``energy_pass.overhead`` (profiled over
baseline iteration time, minus one) and ``energy_pass.alignment``.
"""
import time


def time_iters(torch, run, n):
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        run()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n


def baseline(torch, run, seconds=2.0):
    per = max(time_iters(torch, run, 2), 1e-5)
    n = max(3, int(seconds / per))
    torch.cuda.synchronize()
    t0n = time.time_ns()
    t = time.perf_counter()
    for _ in range(n):
        run()
    torch.cuda.synchronize()
    wall = time.perf_counter() - t
    t1n = time.time_ns()
    # energy_counter_j / iter_energy_counter_j come from the samples (finalize); null until then.
    return {"iterations": n, "wall_s": wall, "iter_s": wall / n, "energy_counter_j": None,
            "iter_energy_counter_j": None, "window_unix_ns": [t0n, t1n]}


def overhead(measure):
    """Profiled iteration time over the uninstrumented one, minus one (None when either is missing)."""
    try:
        return measure["energy_pass"]["iter_s"] / measure["baseline"]["iter_s"] - 1.0
    except (KeyError, TypeError, ZeroDivisionError):
        return None
