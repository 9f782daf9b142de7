"""Long replay: each distinct operator signature once, as a CUDA graph, for a window the counter can see.

NVML's energy counter moves only every ~100 ms, so an operator's power comes from repeating it: the first call of
each distinct signature (op, non-tensor args, input dtype/shape/stride: Core's EnergyModel.Signature) is kept by
the semantic pass with its real inputs, captured into a CUDA graph of ``inner`` back-to-back calls (so launch
overhead does not dilute the power) and replayed for ~0.15 s of warm-up and then a window of >= 0.5 s (default
0.6 s; modules named by the workload: 1.0 s). The probe records each window's Unix-ns start and end, the number
of calls and their GPU time (CUDA events); the sampler running beside it (the .NET worker's, or
:mod:`magneton_probe.nvml`) records the counter, and :mod:`magneton_probe.finalize` turns the two into
``power_w``/``energy_j``/``call_energy_mj``. An idle window (GPU idle 0.5 s) comes first.

Where an operator cannot be replayed faithfully it is recorded, not guessed: views, in-place ops, ops with
data-dependent shapes, host synchronisation or randomness are listed under ``skipped`` with the reason; an op
whose graph capture fails (a host sync inside, an unsupported call) falls back to a plain loop with
``mode: "loop(<error>)"`` and ``graph_error``; an op that fails outright gets an item with only its identity and
``error`` (Core reads those and ignores them); ops of nodes the energy pass never ran (no trace_id) are skipped.
The analysis then takes these operators' power from the energy-pass timeline.

``repeats`` (``--replay-repeat N``): the N items with the longest calls replayed again at the end, to check that
a replay is repeatable (same power within a few percent).

Each measured item also records ``kernels``: the GPU activity names of one call of it run under the profiler
(CUDA activities only, before the window), so the analysis can check that the replay ran the kernels the
operator ran in situ; and each module item records ``inputs``, the signature of the call it replayed (per
argument: ``dtype[shape]s[stride]`` for a tensor, the value or type name otherwise; keyword arguments by name,
after the cache arguments were dropped), so a module replay can be checked against the call it stands for.
"""
import time

OP_SECONDS = 0.6
MODULE_SECONDS = 1.0
WARM_SECONDS = 0.15
IDLE_SECONDS = 0.5
MAX_INNER = 50
GRAPH_BYTES = 1.5e9
MAX_KERNELS = 64


def plan(nodes, replay_calls, refusals):
    """(to replay: [node], skipped: [{op, reason, nodes, first_node}]) from the semantic pass's first calls.

    ``refusals``: {node id: reason} for nodes refused before any call was kept."""
    todo, skipped = [], {}
    for n in nodes:
        nid = n["id"]
        reason = None
        if nid in replay_calls:
            if n.get("trace_id") is None:
                reason = "not seen in the energy pass (no trace_id)"
            else:
                todo.append(n)
                continue
        elif nid in refusals and not n.get("view"):
            reason = refusals[nid]
        if reason is not None:
            key = (n["op"], reason)
            rec = skipped.setdefault(key, {"op": n["op"], "reason": reason, "nodes": 0, "first_node": nid})
            rec["nodes"] += 1
    return todo, list(skipped.values())


def kernel_names(events):
    """GPU activity names, in order, of profiler events (objects with ``name`` and ``device_type``)."""
    names = [e.name for e in events if str(getattr(e, "device_type", "")).upper().endswith("CUDA")]
    return names[:MAX_KERNELS]


def value_signature(a):
    """``dtype[shape]s[stride]`` of a tensor (as Core's EnergyModel.Signature writes inputs), else the value."""
    if hasattr(a, "shape") and hasattr(a, "stride") and hasattr(a, "dtype"):
        return "%s[%s]s[%s]" % (str(a.dtype).replace("torch.", ""), ",".join(str(int(x)) for x in a.shape),
                                ",".join(str(int(x)) for x in a.stride()))
    if a is None or isinstance(a, (bool, int, float, str)):
        return repr(a)
    if isinstance(a, (list, tuple)):
        return "(" + ",".join(value_signature(x) for x in a) + ")"
    return type(a).__name__


def call_signature(args, kwargs):
    """The input signature of a module call: positional arguments in order, then keywords by name."""
    out = [value_signature(a) for a in args]
    out.extend("%s=%s" % (k, value_signature(v)) for k, v in sorted(kwargs.items()))
    return out


def op_item(node, measured, mode, inner, note=None, kernels=None):
    item = {"kind": "op", "id": node["trace_id"], "node": node["id"], "op": node["op"], "module": node["module"]}
    item.update(measured)
    if kernels is not None:
        item["kernels"] = kernels
    item["mode"] = mode
    item["calls"] = measured["launches"] * inner
    item["call_us"] = measured["gpu_s"] / max(item["calls"], 1) * 1e6
    if note:
        item["graph_error"] = note
    return item


def error_item(node, error):
    return {"kind": "op", "id": node["trace_id"], "node": node["id"], "op": node["op"], "module": node["module"],
            "error": error[:300]}


def module_item(name, cls, measured, mode, inner, note=None, kernels=None, inputs=None):
    item = {"kind": "module", "id": name, "module": name, "class": cls}
    item.update(measured)
    if kernels is not None:
        item["kernels"] = kernels
    if inputs is not None:
        item["inputs"] = inputs
    item["mode"] = mode
    item["calls"] = measured["launches"] * inner
    item["call_us"] = measured["gpu_s"] / max(item["calls"], 1) * 1e6
    if note:
        item["graph_error"] = note
    return item


def pick_repeats(items, n):
    """Indices of the n measured op items with the longest calls (their power is the steadiest)."""
    ok = [(i, it) for i, it in enumerate(items) if it.get("kind") == "op" and "window_unix_ns" in it]
    ok.sort(key=lambda p: -p[1].get("call_us", 0))
    return sorted(i for i, _ in ok[:n])


def document(system, items, idle_window, skipped, repeats=None, pair=None, role=None, budget_left=None):
    doc = {"system": system}
    if pair is not None:
        doc["pair"] = pair
    if role is not None:
        doc["role"] = role
    doc["idle"] = {"window_unix_ns": list(idle_window)} if idle_window else None
    doc["items"] = items
    doc["skipped"] = skipped
    if repeats:
        doc["repeats"] = repeats
    if budget_left is not None and budget_left <= 0:
        doc["note"] = "the replay budget ran out; operators after the last item were not replayed"
    return doc


# ---------------------------------------------------------------------------------------------- torch part
def _out_bytes(torch, outs):
    from torch.utils._pytree import tree_flatten
    return sum(o.numel() * o.element_size() for o in tree_flatten(outs)[0] if isinstance(o, torch.Tensor))


def graphable(torch, fn):
    """(callable running ``inner`` calls, inner, mode, graph, note): a CUDA graph where the calls capture, else
    the plain call with mode ``loop(<error>)``."""
    sync = torch.cuda.synchronize
    try:
        outs = fn()
        inner = int(min(MAX_INNER, max(1, GRAPH_BYTES // max(_out_bytes(torch, outs), 1))))
        del outs
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(inner):
                fn()
        sync()
        return g.replay, inner, "graph", g, None
    except Exception as ex:  # capture refused: host sync, CPU work, unsupported op
        try:
            sync()
        except Exception:
            pass
        return fn, 1, "loop(%s)" % type(ex).__name__, None, repr(ex)[:300]


def window(torch, fn, seconds, warm=WARM_SECONDS):
    """Runs fn repeatedly: ``warm`` seconds, then a measured window of about ``seconds``."""
    sync = torch.cuda.synchronize
    st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    sync()
    st.record()
    for _ in range(3):
        fn()
    en.record()
    sync()
    per = max(st.elapsed_time(en) / 3 / 1000.0, 1e-7)
    for _ in range(max(1, int(warm / per))):
        fn()
    sync()
    n = max(1, int(seconds / per))
    t0 = time.time_ns()
    st.record()
    for _ in range(n):
        fn()
    en.record()
    sync()
    t1 = time.time_ns()
    return {"window_unix_ns": [t0, t1], "launches": n, "gpu_s": st.elapsed_time(en) / 1000.0}


def profiled_kernels(torch, fn):
    """The kernel names of one call of ``fn`` under the profiler (CUDA activities); None if profiling fails."""
    try:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        return kernel_names(prof.events())
    except Exception:
        return None


def _measure(torch, fn, seconds):
    kernels = profiled_kernels(torch, fn)
    call, inner, mode, g, note = graphable(torch, fn)
    try:
        return window(torch, call, seconds), mode, inner, note, kernels
    finally:
        del g


def _module_call(m, args, kwargs):
    kwargs = dict(kwargs)
    for key in ("past_key_values", "past_key_value", "layer_past"):
        if key in kwargs:
            kwargs[key] = None
    if "use_cache" in kwargs:
        kwargs["use_cache"] = False
    return (lambda: m(*args, **kwargs)), kwargs


def run_replay(torch, system, nodes, replay_calls, refusals, module_inputs, op_seconds=OP_SECONDS,
               module_seconds=MODULE_SECONDS, budget_s=240.0, repeat=0, log=None, pair=None, role=None):
    """Replays and returns the replay.json document (energies filled in later from the samples)."""
    log = log or (lambda *a: None)
    todo, skipped = plan(nodes, replay_calls, refusals)
    deadline = time.time() + budget_s
    torch.cuda.synchronize()
    time.sleep(0.1)
    t0 = time.time_ns()
    time.sleep(IDLE_SECONDS)
    idle = [t0, time.time_ns()]
    items = []
    calls = {}
    for n in todo:
        if time.time() > deadline:
            skipped.append({"op": n["op"], "reason": "replay budget exhausted", "nodes": 1, "first_node": n["id"]})
            continue
        func, args, kwargs = replay_calls[n["id"]]
        fn = (lambda f=func, a=args, k=kwargs: f(*a, **k))
        try:
            measured, mode, inner, note, kernels = _measure(torch, fn, op_seconds)
            items.append(op_item(n, measured, mode, inner, note, kernels))
            calls[len(items) - 1] = fn
        except Exception as ex:
            try:
                torch.cuda.synchronize()
            except Exception:
                pass
            items.append(error_item(n, repr(ex)))
    for name, (m, args, kwargs) in module_inputs.items():
        if time.time() > deadline:
            skipped.append({"op": "module " + name, "reason": "replay budget exhausted", "nodes": 0, "first_node": None})
            continue
        try:
            call, call_kwargs = _module_call(m, args, kwargs)
            measured, mode, inner, note, kernels = _measure(torch, call, module_seconds)
            items.append(module_item(name, type(m).__name__, measured, mode, inner, note, kernels,
                                     call_signature(args, call_kwargs)))
        except Exception as ex:
            try:
                torch.cuda.synchronize()
            except Exception:
                pass
            items.append({"kind": "module", "id": name, "module": name, "class": type(m).__name__,
                          "error": repr(ex)[:300]})
    repeats = []
    for i in pick_repeats(items, repeat):
        if i not in calls:
            continue
        measured, mode, inner, note, kernels = _measure(torch, calls[i], op_seconds)
        rec = op_item(next(n for n in todo if n["id"] == items[i]["node"]), measured, mode, inner, note, kernels)
        rec["repeat_of"] = i
        repeats.append(rec)
    log("replayed %d items (%d repeats), %d skipped groups" % (len(items), len(repeats), len(skipped)))
    return document(system, items, idle, skipped, repeats, pair, role, deadline - time.time())
