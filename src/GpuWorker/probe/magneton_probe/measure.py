"""The uninstrumented baseline: the job back to back for ~2 s with nothing attached.

Its per-iteration time is the reference for the capture overhead, and its energy (filled in from the counter
samples by :mod:`magneton_probe.finalize`) is the whole-job ground truth: ``iter_energy_counter_j``.
measure.json fields (Core's MeasureReader): ``baseline`` {iterations, wall_s, iter_s, energy_counter_j,
iter_energy_counter_j, window_unix_ns}, ``energy_pass`` {iterations, wall_s, iter_s, sync_begin_unix_ns,
sync_end_unix_ns}, optional ``semantic_pass_s``; the probe adds ``energy_pass.overhead`` (profiled over
baseline iteration time, minus one), ``energy_pass.alignment``, ``device`` ("cuda" or "cpu") and ``warm_s``.

On a GPU the job first runs at load for :data:`WARM_SECONDS` (:func:`warm`), right before the baseline, which
runs back to back into the energy pass: neither is measured in the power limiter's and the clocks' transient
after the slow semantic pass left the GPU nearly idle.
"""
import time

WARM_SECONDS = 1.0


def time_iters(run, n, sync):
    sync()
    t = time.perf_counter()
    for _ in range(n):
        run()
    sync()
    return (time.perf_counter() - t) / n


def warm(run, seconds, sync):
    """Runs the job back to back for at least ``seconds`` (at least one call); returns the seconds it ran."""
    sync()
    t = time.perf_counter()
    while True:
        run()
        sync()
        if time.perf_counter() - t >= seconds:
            return time.perf_counter() - t


def baseline(run, seconds, sync):
    per = max(time_iters(run, 2, sync), 1e-5)
    n = max(3, int(seconds / per))
    sync()
    t0n = time.time_ns()
    t = time.perf_counter()
    for _ in range(n):
        run()
    sync()
    wall = time.perf_counter() - t
    t1n = time.time_ns()
    # energy_counter_j / iter_energy_counter_j come from the samples (finalize); null until then (and on the CPU).
    return {"iterations": n, "wall_s": wall, "iter_s": wall / n, "energy_counter_j": None,
            "iter_energy_counter_j": None, "window_unix_ns": [t0n, t1n]}


def overhead(measure):
    """Profiled iteration time over the uninstrumented one, minus one (None when either is missing)."""
    try:
        return measure["energy_pass"]["iter_s"] / measure["baseline"]["iter_s"] - 1.0
    except (KeyError, TypeError, ZeroDivisionError):
        return None
