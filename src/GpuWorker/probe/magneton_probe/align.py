"""Attributing kernels to semantic-pass operators without per-operator Python ranges.

The analysis (Core's TraceScanner/TraceReduction) attributes a kernel to an operator like this: kernel ->
its launch (``cuda_runtime``/``cuda_driver`` event with the same ``args.correlation``) -> the innermost
``user_annotation`` range named ``mg#<iteration>#<trace_id>#<op>`` on the launch's thread (pid, tid) that
contains the launch's ``ts``. It strictly needs those ranges; it does not read ``cpu_op`` events.

The reference captures made the ranges at run time with a Python ``record_function`` per operator, which cost up
to 78% on host-bound HF GPT-2. The probe instead runs the energy pass under ``torch.profiler`` alone: the
profiler already records every operator natively (``cpu_op`` events from ATen's RecordFunction callbacks, in
C++), so the only Python-level ranges are one per iteration (``magneton_iteration#<k>``) and the two sync marks.
After the pass, this module rewrites the exported trace:

1. per iteration, take the ``cpu_op`` events inside its range and rebuild their nesting per thread (an op
   event contains the events it called: ``aten::linear`` > ``aten::t`` > ``aten::transpose``);
2. align them with the semantic pass's operator sequence. The semantic pass (a TorchDispatchMode) sees an
   antichain of that forest: the first op of each call chain that reaches the Python dispatch key, never one
   nested in another it saw. So the alignment is a longest common subsequence on operator names
   (``aten.addmm.default`` ~ ``aten::addmm``) over the forest in pre-order, where matching an event consumes
   its whole subtree. Ops seen on one side only (the semantic pass's extra ``aten.detach.default``, the
   profiler's composite wrappers and nested calls) are skipped. Ties prefer the outermost event, so the
   range covers everything the operator launched;
3. add one ``user_annotation`` event ``mg#<k>#<trace_id>#<op>`` with the aligned event's pid, tid, ts and dur.
   Its launches then fall inside it, and anything the op called that was not itself aligned is charged to it.

``trace_id`` numbers the semantic nodes aligned in at least one iteration, in node order (as the reference's
index of the energy pass); nodes never aligned get null. Identical iterations (same event names and nesting)
reuse one alignment, so the cost is one O(nodes x events) alignment per distinct iteration shape; long
sequences are aligned in overlapping windows.

Pure standard library, so it is tested on synthetic traces and on the real H100 traces in samples/.
"""
import bisect
import collections

ITERATION_PREFIX = "magneton_iteration#"
SYNC_BEGIN = "mg_sync_begin"
SYNC_END = "mg_sync_end"
RANGE_PREFIX = "mg#"
FULL_DP_CELLS = 4_000_000
WINDOW_NODES = 400


class AlignmentError(Exception):
    pass


def profiler_name(op):
    """The profiler's name of an operator overload: ``aten.addmm.default`` -> ``aten::addmm``."""
    parts = op.split(".")
    if len(parts) >= 2:
        return parts[0] + "::" + parts[1]
    return op


def range_name(iteration, trace_id, op):
    return "%s%d#%d#%s" % (RANGE_PREFIX, iteration, trace_id, op)


def iteration_windows(events):
    """[(iteration, ts, end)] from the ``magneton_iteration#<k>`` user annotations, by iteration."""
    out = []
    for e in events:
        if e.get("ph") != "X" or e.get("cat") != "user_annotation":
            continue
        name = e.get("name", "")
        if name.startswith(ITERATION_PREFIX):
            try:
                k = int(name[len(ITERATION_PREFIX):])
            except ValueError:
                continue
            out.append((k, float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))))
    out.sort()
    return out


def preorder(ops):
    """Pre-order of the per-thread nesting forest of op events.

    ``ops``: dicts with ts, dur, pid, tid. Returns (order, skip): ``order`` lists indices into ``ops``; for
    position p, ``skip[p]`` is the position just after the subtree of order[p] (its descendants are contiguous).
    Trees of different threads are ordered by their roots' start times; an event is nested in another of its
    thread when it starts before that one ends.
    """
    order, skip = [], []
    threads = collections.defaultdict(list)
    for k, e in enumerate(ops):
        threads[(str(e.get("pid")), str(e.get("tid")))].append(k)
    children = [[] for _ in ops]
    roots = []
    for idxs in threads.values():
        idxs.sort(key=lambda k: (float(ops[k]["ts"]), -float(ops[k].get("dur", 0)), k))
        stack = []
        for k in idxs:
            ts = float(ops[k]["ts"])
            while stack and not ts < stack[-1][1]:
                stack.pop()
            if stack:
                children[stack[-1][0]].append(k)
            else:
                roots.append(k)
            stack.append((k, ts + float(ops[k].get("dur", 0))))
    roots.sort(key=lambda k: (float(ops[k]["ts"]), k))
    position = {}
    for root in roots:
        work = [(root, False)]
        while work:
            k, done = work.pop()
            if done:
                skip[position[k]] = len(order)
                continue
            position[k] = len(order)
            order.append(k)
            skip.append(None)
            work.append((k, True))
            for c in reversed(children[k]):
                work.append((c, False))
    return order, skip


def restrict(order, skip, keep):
    """The pre-order restricted to positions where keep(position) holds, with subtree ends recomputed."""
    kept = []
    prefix = [0]
    for p in range(len(order)):
        if keep(p):
            kept.append(p)
        prefix.append(len(kept))
    return kept, [prefix[skip[p]] for p in kept]


def lcs_forest(sem, ev, skip):
    """Longest common subsequence of ``sem`` (names) and the forest pre-order ``ev`` where a match consumes the
    matched event's subtree (``skip[j]``: position after it). Returns [(i, j)] increasing in both.

    Preferences on ties: match (the outermost event of a chain), then drop the semantic node, then descend.
    """
    n, m = len(sem), len(ev)
    if n == 0 or m == 0:
        return []
    if n * m > FULL_DP_CELLS:
        return _lcs_windows(sem, ev, skip)
    return _lcs_full(sem, ev, skip)


def _lcs_full(sem, ev, skip):
    n, m = len(sem), len(ev)
    if n == 0 or m == 0:
        return []
    rows = [None] * (n + 1)
    rows[n] = [0] * (m + 1)
    for i in range(n - 1, -1, -1):
        nxt = rows[i + 1]
        cur = [0] * (m + 1)
        s = sem[i]
        for j in range(m - 1, -1, -1):
            v = cur[j + 1]
            w = nxt[j]
            if w > v:
                v = w
            if ev[j] == s:
                w = 1 + nxt[skip[j]]
                if w > v:
                    v = w
            cur[j] = v
        rows[i] = cur
    pairs = []
    i = j = 0
    while i < n and j < m:
        here = rows[i][j]
        if here == 0:
            break
        if ev[j] == sem[i] and 1 + rows[i + 1][skip[j]] == here:
            pairs.append((i, j))
            i, j = i + 1, skip[j]
        elif rows[i + 1][j] == here:
            i += 1
        else:
            j += 1
    return pairs


def _lcs_windows(sem, ev, skip):
    """lcs_forest over overlapping windows: commit the first half of each window's alignment, then slide."""
    n, m = len(sem), len(ev)
    ratio = max(1.0, m / max(n, 1))
    pairs = []
    i0 = j0 = 0
    while i0 < n and j0 < m:
        i1 = min(n, i0 + WINDOW_NODES)
        j1 = min(m, j0 + int(WINDOW_NODES * ratio * 2) + 64)
        local = _lcs_full(sem[i0:i1], ev[j0:j1], [min(s, j1) - j0 for s in skip[j0:j1]])
        half = i0 + (WINDOW_NODES // 2 if i1 < n else WINDOW_NODES)
        committed = [(i0 + a, j0 + b) for a, b in local if i0 + a < half]
        pairs.extend(committed)
        if i1 >= n:
            break
        if committed:
            last_i, last_j = committed[-1]
            i0, j0 = max(half, last_i + 1), skip[last_j]
        else:
            i0 = half
    return pairs


def _cpu_ops(events):
    ops = [e for e in events if e.get("ph") == "X" and e.get("cat") == "cpu_op" and "ts" in e]
    ops.sort(key=lambda e: float(e["ts"]))
    return ops


class Alignment:
    """The result of aligning a trace with the semantic pass."""

    def __init__(self, trace_ids, per_iteration, summary):
        self.trace_ids = trace_ids          # per semantic node (list index): trace_id or None
        self.per_iteration = per_iteration  # iteration -> [(node index, op event)]
        self.summary = summary              # JSON-ready numbers for measure.json


def align_trace(events, ops, windows=None):
    """Aligns the cpu_op events of each iteration window with the semantic operator sequence ``ops``
    (``aten.addmm.default`` strings, in node order). ``windows``: [(iteration, ts, end)], by default from the
    ``magneton_iteration#<k>`` ranges."""
    if windows is None:
        windows = iteration_windows(events)
    if not windows:
        raise AlignmentError("the trace has no %s<k> ranges to split it into iterations" % ITERATION_PREFIX)
    sem = [profiler_name(op) for op in ops]
    wanted = set(sem)
    cpu = _cpu_ops(events)
    starts = [float(e["ts"]) for e in cpu]
    cache = {}
    per_iteration = {}
    counts = []
    for k, lo, hi in windows:
        a = bisect.bisect_left(starts, lo)
        b = bisect.bisect_right(starts, hi)
        window_ops = cpu[a:b]
        order, skip = preorder(window_ops)
        kept, kskip = restrict(order, skip, lambda p: window_ops[order[p]].get("name") in wanted)
        names = tuple(window_ops[order[p]]["name"] for p in kept)
        key = (names, tuple(kskip))
        pairs = cache.get(key)
        if pairs is None:
            pairs = lcs_forest(sem, names, kskip)
            cache[key] = pairs
        per_iteration[k] = [(i, window_ops[order[kept[j]]]) for i, j in pairs]
        counts.append(len(pairs))
    aligned = sorted({i for pairs in per_iteration.values() for i, _ in pairs})
    trace_ids = [None] * len(ops)
    for t, i in enumerate(aligned):
        trace_ids[i] = t
    missing = collections.Counter(ops[i] for i in range(len(ops)) if trace_ids[i] is None)
    summary = {
        "method": "profiler cpu_op events aligned to the semantic pass (forest LCS on operator names); "
                  "mg# ranges added to the exported trace",
        "iterations": len(windows),
        "nodes": len(ops),
        "aligned_nodes": len(aligned),
        "aligned_per_iteration_min": min(counts) if counts else 0,
        "aligned_per_iteration_max": max(counts) if counts else 0,
        "distinct_iteration_shapes": len(cache),
        "unaligned_ops": dict(sorted(missing.items())),
    }
    return Alignment(trace_ids, per_iteration, summary)


def add_ranges(events, alignment, ops, node_ids=None):
    """Appends one ``mg#<k>#<trace_id>#<op>`` user_annotation per aligned event; returns how many."""
    added = 0
    for k in sorted(alignment.per_iteration):
        for i, e in alignment.per_iteration[k]:
            t = alignment.trace_ids[i]
            if t is None:
                continue
            ev = {"ph": "X", "cat": "user_annotation", "name": range_name(k, t, ops[i]),
                  "pid": e.get("pid"), "tid": e.get("tid"), "ts": e["ts"], "dur": e.get("dur", 0),
                  "args": {"magneton_node": node_ids[i] if node_ids is not None else i}}
            events.append(ev)
            added += 1
    return added


def strip_ranges(events):
    """The events without mg# ranges (and their GPU copies): a reference trace as the profiler alone makes it."""
    return [e for e in events
            if not (e.get("cat") in ("user_annotation", "gpu_user_annotation")
                    and str(e.get("name", "")).startswith(RANGE_PREFIX))]


def rewrite_trace(trace, nodes, windows=None):
    """Aligns a profiler trace (the chrome-trace dict) with dataflow nodes, adds the mg# ranges in place and
    returns the Alignment; ``nodes`` get their ``trace_id`` set."""
    events = trace.get("traceEvents")
    if not isinstance(events, list):
        raise AlignmentError("the trace has no traceEvents list")
    ops = [n["op"] for n in nodes]
    alignment = align_trace(events, ops, windows)
    for n, t in zip(nodes, alignment.trace_ids):
        n["trace_id"] = t
    alignment.summary["ranges_added"] = add_ranges(events, alignment, ops, [n["id"] for n in nodes])
    return alignment
