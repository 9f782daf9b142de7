"""A synthetic capture without torch or a GPU, through the probe's own writers, alignment and finalize.

It computes a tiny two-block MLP (``h.<i>.fc`` addmm, ``h.<i>.act`` activation, ``h.<i>.proj`` addmm, a
residual add) in plain Python on lists, fingerprints every value with the pure functions of
:mod:`magneton_probe.fingerprint`, fabricates what the profiler would export for K iterations (nested ``cpu_op``
events with ``aten::linear`` around ``aten::t`` and ``aten::addmm``, launches and kernels linked by correlation
ids, the iteration and sync annotations; the semantic pass's ``aten.detach.default`` has no event, as on the
H100), fabricates the NVML samples of the run (the counter updating every 100 ms), and writes a complete
bundle with :mod:`magneton_probe.align` (mg# ranges) and :mod:`magneton_probe.finalize` (energies, CSV slices).

``--activation gelu_new`` makes the eight-op tanh GELU of HF's NewGELUActivation, ``gelu_pytorch_tanh`` the
single fused ``aten.gelu``: the two bundles compute the same values, as a real gelu pair does, so the analysis
can match them. Tests read these bundles with Core's BundleReader to prove the writers emit what it accepts.

    python -m magneton_probe synthetic OUTDIR [--activation gelu_new|gelu_pytorch_tanh] [--system NAME]
                                       [--raw --samples-out CSV] [--slow]
"""
import argparse
import math
import os
import random

from . import align, bundle, finalize
from . import fingerprint as fp

T0 = 1_800_000_000_000_000_000          # Unix ns of the synthetic run's start
BASE_NS = T0 - 1_000_000_000_000         # kineto baseTimeNanoseconds: ts (us) = (unix - BASE) / 1000
D = 8                                    # model width
BATCH = 4
ITERATIONS = 5
IDLE_W, BASE_W, PASS_W = 90.0, 260.0, 180.0
KERNEL_US = {"aten::addmm": 30.0, "aten::mul": 12.0, "aten::pow": 12.0, "aten::add": 12.0, "aten::tanh": 12.0,
             "aten::gelu": 14.0}
REPLAY_W = {"aten.addmm.default": 420.0, "aten.gelu.default": 330.0}
ELEMENTWISE_W = 300.0
# --slow: the job does extra work in its matrix products (a node or version that is slower for the same result):
# each addmm launches a slower kernel taking this many times as long, and an iteration of the job takes longer.
SLOW_ADDMM = 3.0
SLOW_ITERATION = 4.0 / 3.0
SOURCE = {
    "synthetic/model.py": ["import math", "", "class Block:", "    def forward(self, x):",
                           "        h = self.fc(x)", "        a = self.act(h)", "        return x + self.proj(a)",
                           "", "class NewGELUActivation:", "    def forward(self, x):",
                           "        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi)"
                           " * (x + 0.044715 * torch.pow(x, 3.0))))", "",
                           "class GELUTanh:", "    def forward(self, x):",
                           "        return F.gelu(x, approximate='tanh')"],
}


class Graph:
    """Nodes and values as the semantic pass records them, built by running the ops on lists."""

    def __init__(self):
        self.nodes, self.values, self.data = [], {}, {}

    def value(self, flat, shape, kind, producer=None, dtype="float32"):
        vid = len(self.values)
        rec = fp.fingerprint(flat, shape, dtype, device="cuda")
        rec["kind"], rec["producer"] = kind, producer
        self.values[vid] = rec
        self.data[vid] = (flat, list(shape))
        return vid

    def op(self, op, ins, out_flat, out_shape, module, stack, args, view=False):
        nid = len(self.nodes)
        out = self.value(out_flat, out_shape, "activation", nid)
        self.nodes.append({"id": nid, "op": op, "module": module, "stack": stack, "in": ins, "out": [out],
                           "mutable": False, "view": view, "aliases_updated": [], "args": args, "trace_id": None})
        return out


def _addmm(b, x, w, n, k, m):
    return [b[j] + math.fsum(x[i * k + t] * w[t * m + j] for t in range(k)) for i in range(n) for j in range(m)]


def build_graph(activation, seed=7):
    rng = random.Random(seed)
    g = Graph()
    stack_block = ["synthetic/model.py:5:forward", "synthetic/run.py:12:step"]
    x0 = [rng.gauss(0, 1) for _ in range(BATCH * D)]
    xin = g.value(x0, [BATCH, D], "input")
    x = g.op("aten.view.default", [xin], list(x0), [BATCH, D], "", ["synthetic/run.py:11:step"], "T,4,8", view=True)
    # The semantic pass sees a detach the profiler does not record (as on the H100).
    g.op("aten.detach.default", [x], list(x0), [BATCH, D], "", ["synthetic/run.py:11:step"], "T", view=True)
    for blk in range(2):
        w1 = [rng.gauss(0, 0.5) for _ in range(D * 2 * D)]
        b1 = [rng.gauss(0, 0.1) for _ in range(2 * D)]
        w2 = [rng.gauss(0, 0.5) for _ in range(2 * D * D)]
        b2 = [rng.gauss(0, 0.1) for _ in range(D)]
        vw1, vb1 = g.value(w1, [D, 2 * D], "param"), g.value(b1, [2 * D], "param")
        vw2, vb2 = g.value(w2, [2 * D, D], "param"), g.value(b2, [D], "param")
        pre = "h.%d" % blk
        hx = g.data[x][0]
        h = _addmm(b1, hx, w1, BATCH, D, 2 * D)
        vh = g.op("aten.addmm.default", [vb1, x, vw1], h, [BATCH, 2 * D], pre + ".fc", stack_block, "T,T,T")
        act_stack = ["synthetic/model.py:%d:forward" % (11 if activation == "gelu_new" else 16),
                     "synthetic/model.py:6:forward", "synthetic/run.py:12:step"]
        mod = pre + ".act"
        shape = [BATCH, 2 * D]
        c = math.sqrt(2.0 / math.pi)
        gelu = [0.5 * v * (1.0 + math.tanh(c * (v + 0.044715 * v ** 3))) for v in h]
        if activation == "gelu_new":
            a = g.op("aten.mul.Tensor", [vh], [0.5 * v for v in h], shape, mod, act_stack, "T,0.5")
            p = g.op("aten.pow.Tensor_Scalar", [vh], [v ** 3 for v in h], shape, mod, act_stack, "T,3.0")
            q = g.op("aten.mul.Tensor", [p], [0.044715 * v ** 3 for v in h], shape, mod, act_stack, "T,0.044715")
            r = g.op("aten.add.Tensor", [vh, q], [v + 0.044715 * v ** 3 for v in h], shape, mod, act_stack, "T,T")
            s = g.op("aten.mul.Tensor", [r], [c * (v + 0.044715 * v ** 3) for v in h], shape, mod, act_stack,
                     "T,%r" % c)
            u = g.op("aten.tanh.default", [s], [math.tanh(c * (v + 0.044715 * v ** 3)) for v in h], shape, mod,
                     act_stack, "T")
            w = g.op("aten.add.Tensor", [u], [1.0 + math.tanh(c * (v + 0.044715 * v ** 3)) for v in h], shape,
                     mod, act_stack, "T,1.0")
            va = g.op("aten.mul.Tensor", [a, w], gelu, shape, mod, act_stack, "T,T")
        else:
            va = g.op("aten.gelu.default", [vh], gelu, shape, mod, act_stack, "T,approximate='tanh'")
        y = _addmm(b2, gelu, w2, BATCH, 2 * D, D)
        vy = g.op("aten.addmm.default", [vb2, va, vw2], y, [BATCH, D], pre + ".proj", stack_block, "T,T,T")
        out = [u + v for u, v in zip(hx, y)]
        x = g.op("aten.add.Tensor", [x, vy], out, [BATCH, D], pre, ["synthetic/model.py:7:forward"] + stack_block[1:],
                 "T,T")
    return g


class Timeline:
    """Power over the synthetic run, as piecewise-constant segments [(start ns, end ns, watts)]."""

    def __init__(self):
        self.segments = []

    def add(self, start, end, watts):
        self.segments.append((start, end, watts))

    def power(self, t):
        for s, e, w in self.segments:
            if s <= t < e:
                return w
        return IDLE_W

    def samples(self, start, end, period_ns=4_000_000, update_ns=100_000_000):
        """Sampler rows: the counter (mJ) moves only at 100 ms updates; instant power sampled as is."""
        rows = []
        energy_mj = 5_000_000.0
        last_update = start
        counter = int(energy_mj)
        t = start
        step = 1_000_000
        acc_t = start
        while t <= end:
            while acc_t < t:
                energy_mj += self.power(acc_t) * step / 1e6  # W * ms = mJ
                acc_t += step
            if t - last_update >= update_ns:
                counter = int(energy_mj)
                last_update = t
            p = int(self.power(t) * 1000)
            rows.append((t, p, p, counter))
            t += period_ns
        return rows


def _kernel(name, slow):
    """(kernel name, duration in us) of a profiler op's launch."""
    short = name.split("::")[1]
    if slow and name == "aten::addmm":
        return "synthetic_%s_slow_kernel" % short, KERNEL_US[name] * SLOW_ADDMM
    return "synthetic_%s_kernel" % short, KERNEL_US[name]


def fake_trace(g, timeline, slow=False):
    """The chrome trace the profiler would export for ITERATIONS iterations, without mg# ranges."""
    pid, tid = 4242, 4242
    events = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "python3"}}]
    corr = [100]

    def us(unix_ns):
        return round((unix_ns - BASE_NS) / 1000.0, 3)

    def x(cat, name, ts_ns, dur_ns, args=None, p=pid, t=tid):
        e = {"ph": "X", "cat": cat, "name": name, "pid": p, "tid": t, "ts": us(ts_ns), "dur": round(dur_ns / 1000.0, 3)}
        if args is not None:
            e["args"] = args
        events.append(e)

    gpu_free = [0]

    def launch(name, at_ns):
        corr[0] += 1
        c = corr[0]
        x("cuda_runtime", "cudaLaunchKernel", at_ns, 3_000, {"correlation": c})
        k_start = max(at_ns + 5_000, gpu_free[0])
        kernel, kernel_us = _kernel(name, slow)
        k_dur = int(kernel_us * 1000)
        gpu_free[0] = k_start + k_dur
        x("kernel", kernel, k_start, k_dur,
          {"correlation": c, "device": 0, "stream": 7}, p=0, t=7)

    start = T0 + 4_000_000_000
    x("user_annotation", align.SYNC_BEGIN, start, 1_000_000)
    pass_start = start + 2_000_000
    iter_ns = 100_000_000
    for k in range(ITERATIONS):
        t = pass_start + k * iter_ns
        it_start = t
        t += 10_000
        for n in g.nodes:
            name = align.profiler_name(n["op"])
            if n["op"] == "aten.detach.default":
                continue
            if name == "aten::addmm":
                # aten::linear > (aten::t > aten::transpose > aten::as_strided), aten::addmm
                x("cpu_op", "aten::linear", t, 60_000)
                x("cpu_op", "aten::t", t + 2_000, 10_000)
                x("cpu_op", "aten::transpose", t + 3_000, 8_000)
                x("cpu_op", "aten::as_strided", t + 4_000, 3_000)
                x("cpu_op", "aten::addmm", t + 15_000, 40_000)
                launch(name, t + 30_000)
                t += 70_000
            elif n["view"]:
                x("cpu_op", name, t, 5_000)
                x("cpu_op", "aten::as_strided", t + 1_000, 2_000)
                t += 8_000
            else:
                x("cpu_op", name, t, 20_000)
                x("cpu_op", "aten::empty", t + 2_000, 3_000)
                launch(name, t + 10_000)
                t += 25_000
        x("user_annotation", align.ITERATION_PREFIX + str(k), it_start, t - it_start + 1_000)
    pass_end = pass_start + ITERATIONS * iter_ns
    x("user_annotation", align.SYNC_END, pass_end + 1_000_000, 1_000_000)
    timeline.add(pass_start, pass_end, PASS_W)
    sync = {"sync_begin_unix_ns": [start, pass_start], "sync_end_unix_ns": [pass_end, pass_end + 3_000_000]}
    trace = {"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "Synthetic GPU"}],
             "baseTimeNanoseconds": BASE_NS, "traceEvents": events, "displayTimeUnit": "ms"}
    return trace, sync


def replay_doc(g, system, timeline, slow=False):
    t = T0 + 5_000_000_000
    idle = [t, t + 500_000_000]
    t = idle[1] + 100_000_000
    items, seen = [], set()
    for n in g.nodes:
        if n["view"] or n["trace_id"] is None:
            continue
        sig = bundle.signature(n, g.values)
        if sig in seen:
            continue
        seen.add(sig)
        kernel, call_us = _kernel(align.profiler_name(n["op"]), slow)
        window = [t + 150_000_000, t + 750_000_000]
        watts = REPLAY_W.get(n["op"], ELEMENTWISE_W)
        timeline.add(t, window[1], watts)
        gpu_s = (window[1] - window[0]) / 1e9 * 0.98
        calls = int(gpu_s / (call_us * 1e-6))
        items.append({"kind": "op", "id": n["trace_id"], "node": n["id"], "op": n["op"], "module": n["module"],
                      "window_unix_ns": window, "launches": max(1, calls // 50), "gpu_s": gpu_s, "mode": "graph",
                      "calls": calls, "call_us": gpu_s / calls * 1e6, "kernels": [kernel]})
        t = window[1] + 200_000_000
    repeats = []
    if items:
        first = items[0]
        window = [t + 150_000_000, t + 750_000_000]
        timeline.add(t, window[1], REPLAY_W.get(first["op"], ELEMENTWISE_W))
        rec = dict(first, window_unix_ns=window, repeat_of=0)
        repeats.append(rec)
        t = window[1]
    skipped = [{"op": "aten.view.default", "reason": "view (no GPU work of its own)", "nodes": 1, "first_node": 0}]
    doc = {"system": system, "idle": {"window_unix_ns": idle}, "items": items, "skipped": skipped,
           "repeats": repeats}
    return doc, t


def write(out, activation="gelu_new", system=None, raw=False, samples_out=None, slow=False):
    """Writes the bundle; ``raw``: leave the energies unfilled (as the probe leaves them when the worker samples)
    and write the fabricated samples to ``samples_out`` instead of finalizing; ``slow``: see SLOW_ADDMM."""
    system = system or "synthetic-mlp-" + activation
    os.makedirs(out, exist_ok=True)
    g = build_graph(activation)
    timeline = Timeline()
    base_window = [T0 + 1_000_000_000, T0 + 3_000_000_000]
    timeline.add(base_window[0], base_window[1], BASE_W)
    trace, sync = fake_trace(g, timeline, slow)
    alignment = align.rewrite_trace(trace, g.nodes)
    bundle.write_trace(os.path.join(out, bundle.KINETO), trace)
    config = {"model": "synthetic 2-block mlp", "activation_function": activation}
    doc = bundle.dataflow(system, g.nodes, g.values, config)
    problems = bundle.check_dataflow(doc)
    if problems:
        raise RuntimeError("; ".join(problems))
    bundle.write_json(os.path.join(out, bundle.DATAFLOW), doc, compact=True)
    rdoc, end = replay_doc(g, system, timeline, slow)
    bundle.write_json(os.path.join(out, bundle.REPLAY), rdoc)
    frames = sorted({f for n in g.nodes for f in n["stack"]})
    source = {}
    for f in frames:
        path, line, _ = f.rsplit(":", 2)
        lines = SOURCE.get(path, [])
        line = int(line)
        source[f] = {"lines": [[i, lines[i - 1]] for i in range(max(1, line - 3), line + 4) if 0 < i <= len(lines)]}
    act_cls = "synthetic.NewGELUActivation" if activation == "gelu_new" else "synthetic.GELUTanh"
    modules = {"": "synthetic.Model", "h": "synthetic.ModuleList"}
    for blk in range(2):
        p = "h.%d" % blk
        modules.update({p: "synthetic.Block", p + ".fc": "torch.nn.modules.linear.Linear", p + ".act": act_cls,
                        p + ".proj": "torch.nn.modules.linear.Linear"})
    bundle.write_json(os.path.join(out, bundle.CONTEXT), {
        "flags": {"torch.backends.cuda.matmul.allow_tf32": False}, "modules": modules,
        "model_config": {"activation_function": activation, "n_embd": D, "n_layer": 2,
                         "nested": {"inner": {"leaf": 1}}},
        "forward_source": None, "source": source, "versions": {"torch": "synthetic"}})
    ep = dict(sync)
    ep.update({"iterations": ITERATIONS, "wall_s": ITERATIONS * 0.1, "iter_s": 0.1, "alignment": alignment.summary})
    # The job: 400 iterations of 5 ms in the 2 s baseline window (the energy pass below is stretched for the trace).
    iterations = int(400 / SLOW_ITERATION) if slow else 400
    baseline = {"iterations": iterations, "wall_s": 2.0, "iter_s": 2.0 / iterations, "energy_counter_j": None,
                "iter_energy_counter_j": None, "window_unix_ns": base_window}
    ep["overhead"] = ep["iter_s"] / baseline["iter_s"] - 1
    bundle.write_json(os.path.join(out, bundle.MEASURE), {
        "system": system, "config": config, "semantic_pass_s": 0.01, "baseline": baseline, "energy_pass": ep,
        "probe": {"version": "synthetic", "sampler": "synthetic"}})
    samples = samples_out or os.path.join(out, "samples.csv")
    finalize.write_samples(samples, timeline.samples(T0, end + 500_000_000))
    if not raw:
        finalize.finalize(out, samples)
    return {"out": out, "operators": len(g.nodes), "aligned": alignment.summary["aligned_nodes"]}


def main(argv):
    p = argparse.ArgumentParser(prog="python -m magneton_probe synthetic")
    p.add_argument("out")
    p.add_argument("--activation", default="gelu_new", choices=["gelu_new", "gelu_pytorch_tanh"])
    p.add_argument("--system")
    p.add_argument("--raw", action="store_true", help="no finalize: energies left empty, as under magneton capture")
    p.add_argument("--samples-out", help="where the fabricated NVML samples go (with --raw)")
    p.add_argument("--slow", action="store_true", help="extra work in the matrix products: slower kernels, longer iterations")
    p.add_argument("--realtime", action="store_true",
                   help="place the run's windows from now on and return only after the last one (~15 s), so that "
                        "a real sampler running meanwhile covers them (a manual check of magneton capture)")
    try:
        args = p.parse_args(argv)
    except SystemExit as ex:
        return 0 if ex.code == 0 else 2
    global T0, BASE_NS
    if args.realtime:
        import time
        T0 = time.time_ns() + 100_000_000
        BASE_NS = T0 - 1_000_000_000_000
    r = write(args.out, args.activation, args.system, args.raw, args.samples_out, args.slow)
    if args.realtime:
        rdoc = bundle.read_json(os.path.join(args.out, bundle.REPLAY))
        end = max(w["window_unix_ns"][1] for w in rdoc["items"] + rdoc["repeats"])
        time.sleep(max(0.0, (end - time.time_ns()) / 1e9 + 0.3))
    print("synthetic bundle %s: %d operators, %d aligned" % (r["out"], r["operators"], r["aligned"]))
    return 0
