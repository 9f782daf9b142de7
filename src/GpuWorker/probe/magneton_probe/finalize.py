"""Energy numbers of a capture from NVML samples: the last step of a capture, pure standard library.

The probe does not read NVML while it measures: a sampler in another process (the .NET worker's
PowerSampler under ``magneton capture``, or :mod:`magneton_probe.nvml` standalone) polls the counter for the
whole run and writes one CSV (``t_unix_ns,power_instant_mw,power_avg_mw,energy_mj``, -1 where not read). The
probe only records Unix-nanosecond windows: the baseline, the energy pass's sync marks, the replay idle window
and each replay window. This step then

- slices the samples into power.csv (energy pass), baseline_power.csv (baseline) and replay_counter.csv (idle
  and replays), each with a margin;
- fills measure.json ``baseline.energy_counter_j`` / ``iter_energy_counter_j`` and replay.json ``power_w``,
  ``counter_updates``, ``energy_j``, ``call_energy_mj`` (and ``idle.power_w``).

A window's power is the counter increase between the first and last counter update inside the window divided by
the time between those updates (NVML updates the counter only every ~100 ms on an H100): the same algorithm as
Core's ``CounterWindow.Measure``, so the analysis recomputes the same numbers from the CSVs. A window's energy is
that power times the window's length.

Run it as ``python -m magneton_probe finalize --out DIR --samples CSV``.
"""
import bisect
import os

from . import bundle

MARGIN_NS = 1_000_000_000


class FinalizeError(Exception):
    pass


def read_samples(path):
    """Rows (t_unix_ns, power_instant_mw, power_avg_mw, energy_mj) of a sample CSV, sorted by time."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().lstrip("\ufeff")
        if header != bundle.CSV_HEADER:
            raise FinalizeError("%s: expected header %r, got %r" % (path, bundle.CSV_HEADER, header))
        for n, line in enumerate(f, start=2):
            line = line.strip()
            if not line:
                continue
            cells = line.split(",")
            if len(cells) != 4:
                raise FinalizeError("%s: line %d has %d columns" % (path, n, len(cells)))
            rows.append(tuple(int(c) for c in cells))
    rows.sort(key=lambda r: r[0])
    return rows


def write_samples(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(bundle.CSV_HEADER + "\n")
        for r in rows:
            f.write("%d,%d,%d,%d\n" % tuple(r))
    os.replace(tmp, path)


def slice_rows(rows, start_ns, end_ns):
    times = [r[0] for r in rows]
    return rows[bisect.bisect_left(times, start_ns):bisect.bisect_right(times, end_ns)]


def counter_window(rows, from_ns, to_ns):
    """(power_w, energy_j, updates, update_period_ms) of a window; power None when fewer than 2 updates."""
    times = [r[0] for r in rows]
    start = bisect.bisect_left(times, from_ns)
    first = last = -1
    updates = 0
    i = max(start, 1)
    while i < len(rows) and rows[i][0] <= to_ns:
        e, prev = rows[i][3], rows[i - 1][3]
        if e >= 0 and prev >= 0 and e != prev:
            if first < 0:
                first = i
            last = i
            updates += 1
        i += 1
    if updates < 2:
        return None, None, updates, None
    seconds = (rows[last][0] - rows[first][0]) / 1e9
    joules = (rows[last][3] - rows[first][3]) / 1000.0
    power = joules / seconds
    return power, power * (to_ns - from_ns) / 1e9, updates, seconds * 1000.0 / (updates - 1)


def counter_difference(rows, from_ns, to_ns):
    """Energy (J) between the last readings at or before each end; None without readings."""
    times = [r[0] for r in rows]
    a = bisect.bisect_right(times, from_ns) - 1
    b = bisect.bisect_right(times, to_ns) - 1
    if a < 0 or b < 0 or rows[a][3] < 0 or rows[b][3] < 0:
        return None
    return (rows[b][3] - rows[a][3]) / 1000.0


def window_energy(rows, window):
    """Energy of a window (J): counter power x length, or the raw counter difference when too short."""
    power, energy, updates, _ = counter_window(rows, window[0], window[1])
    if energy is not None:
        return energy, "counter-updates", updates
    diff = counter_difference(rows, window[0], window[1])
    return diff, "counter-difference", updates


def fill_measure(measure, rows):
    b = measure.get("baseline")
    if not b or "window_unix_ns" not in b:
        raise FinalizeError("measure.json has no baseline window")
    energy, method, updates = window_energy(rows, b["window_unix_ns"])
    if energy is None:
        raise FinalizeError("the samples do not cover the baseline window %s..%s (no energy counter readings)"
                            % tuple(b["window_unix_ns"]))
    b["energy_counter_j"] = energy
    b["iter_energy_counter_j"] = energy / max(1, int(b["iterations"]))
    b["energy_method"] = method
    b["counter_updates"] = updates
    power, _, _, period = counter_window(rows, *b["window_unix_ns"])
    if period is not None:
        measure.setdefault("nvml", {})["update_period_ms"] = period
    return measure


def fill_replay_item(item, rows):
    if "window_unix_ns" not in item:
        return item
    power, energy, updates, _ = counter_window(rows, *item["window_unix_ns"])
    item["power_w"] = power
    item["counter_updates"] = updates
    if energy is not None:
        item["energy_j"] = energy
        item["call_energy_mj"] = energy / max(1, item.get("calls", 1)) * 1e3
    return item


def fill_replay(replay, rows):
    idle = replay.get("idle")
    if idle and "window_unix_ns" in idle:
        idle["power_w"] = counter_window(rows, *idle["window_unix_ns"])[0]
    for item in replay.get("items", []):
        fill_replay_item(item, rows)
    for item in replay.get("repeats", []):
        fill_replay_item(item, rows)
    if rows:
        replay["counter_samples"] = len(rows)
        span = (rows[-1][0] - rows[0][0]) / 1e9
        if span > 0:
            replay["counter_rate_hz"] = len(rows) / span
    return replay


def replay_span(replay):
    windows = []
    if replay.get("idle", {}).get("window_unix_ns"):
        windows.append(replay["idle"]["window_unix_ns"])
    for item in replay.get("items", []) + replay.get("repeats", []):
        if "window_unix_ns" in item:
            windows.append(item["window_unix_ns"])
    if not windows:
        return None
    return min(w[0] for w in windows), max(w[1] for w in windows)


def finalize(out, samples_path, margin_ns=MARGIN_NS, keep_samples=False):
    """Fills the energy numbers of the bundle in ``out`` from the sample CSV and writes the sample slices."""
    rows = read_samples(samples_path)
    if not rows:
        raise FinalizeError("%s holds no samples: the NVML sampler did not run" % samples_path)
    measure_path = os.path.join(out, bundle.MEASURE)
    measure = bundle.read_json(measure_path)
    fill_measure(measure, rows)
    b0, b1 = measure["baseline"]["window_unix_ns"]
    write_samples(os.path.join(out, bundle.BASELINE_POWER), slice_rows(rows, b0 - margin_ns, b1 + margin_ns))
    ep = measure.get("energy_pass", {})
    if "sync_begin_unix_ns" in ep and "sync_end_unix_ns" in ep:
        p0, p1 = ep["sync_begin_unix_ns"][0], ep["sync_end_unix_ns"][1]
        write_samples(os.path.join(out, bundle.POWER), slice_rows(rows, p0 - margin_ns, p1 + margin_ns))
    else:
        raise FinalizeError("measure.json has no energy-pass sync marks")
    replay_path = os.path.join(out, bundle.REPLAY)
    if os.path.exists(replay_path):
        replay = bundle.read_json(replay_path)
        span = replay_span(replay)
        sliced = slice_rows(rows, span[0] - margin_ns, span[1] + margin_ns) if span else []
        fill_replay(replay, sliced if sliced else rows)
        bundle.write_json(replay_path, replay)
        if sliced:
            write_samples(os.path.join(out, bundle.REPLAY_COUNTER), sliced)
    measure.setdefault("nvml", {})["samples"] = len(rows)
    measure["finalized"] = True
    bundle.write_json(measure_path, measure)
    if not keep_samples and os.path.abspath(os.path.dirname(samples_path)) == os.path.abspath(out):
        os.remove(samples_path)
    return measure
