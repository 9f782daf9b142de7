import gzip
import os
import tempfile
import unittest

import _support  # noqa: F401
from magneton_probe import align, bundle


def x(cat, name, ts, dur, tid=7, pid=7, args=None):
    e = {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur}
    if args:
        e["args"] = args
    return e


def attribute(events):
    """Core's rule, brute force: kernel -> launch by correlation -> innermost mg# range on the launch's thread."""
    ranges = [e for e in events if e.get("cat") == "user_annotation" and e["name"].startswith("mg#")]
    launches = {e["args"]["correlation"]: e for e in events if e.get("cat") == "cuda_runtime"}
    out = {}
    for k in (e for e in events if e.get("cat") == "kernel"):
        launch = launches[k["args"]["correlation"]]
        inside = [r for r in ranges if (r["pid"], r["tid"]) == (launch["pid"], launch["tid"])
                  and r["ts"] <= launch["ts"] <= r["ts"] + r["dur"]]
        if inside:
            best = max(inside, key=lambda r: (r["ts"], -r["dur"]))
            _, it, tid, op = best["name"].split("#", 3)
            out.setdefault((int(it), int(tid)), []).append(k["name"])
    return out


def small_trace():
    """Two iterations of: view; linear > (t, addmm[gemm]); mul[elementwise] on thread 7 (kernels on 0/9)."""
    events = [x("user_annotation", align.SYNC_BEGIN, 0, 1)]
    corr = [0]

    def launch(at, kernel):
        corr[0] += 1
        events.append(x("cuda_runtime", "cudaLaunchKernel", at, 1, args={"correlation": corr[0]}))
        events.append(x("kernel", kernel, at + 5, 3, pid=0, tid=9, args={"correlation": corr[0]}))

    for k in range(2):
        t = 10 + k * 100
        events.append(x("user_annotation", align.ITERATION_PREFIX + str(k), t, 90))
        events.append(x("cpu_op", "aten::view", t + 1, 2))
        events.append(x("cpu_op", "aten::linear", t + 10, 40))
        events.append(x("cpu_op", "aten::t", t + 11, 5))
        events.append(x("cpu_op", "aten::transpose", t + 12, 3))
        events.append(x("cpu_op", "aten::addmm", t + 20, 25))
        launch(t + 30, "gemm")
        events.append(x("cpu_op", "aten::mul", t + 60, 10))
        launch(t + 65, "elementwise")
    events.append(x("user_annotation", align.SYNC_END, 300, 1))
    return {"traceEvents": events, "baseTimeNanoseconds": 1}


NODES = [
    {"id": 0, "op": "aten.view.default"},
    {"id": 1, "op": "aten.detach.default"},
    {"id": 2, "op": "aten.t.default"},
    {"id": 3, "op": "aten.addmm.default"},
    {"id": 4, "op": "aten.mul.Tensor"},
]


class Rewrite(unittest.TestCase):
    def test_ranges_cover_the_aligned_events_and_attribute_their_kernels(self):
        trace = small_trace()
        nodes = [dict(n) for n in NODES]
        result = align.rewrite_trace(trace, nodes)
        self.assertEqual([n["trace_id"] for n in nodes], [0, None, 1, 2, 3])
        ranges = [e for e in trace["traceEvents"] if e["name"].startswith("mg#")]
        self.assertEqual(len(ranges), 8)
        self.assertEqual(result.summary["ranges_added"], 8)
        addmm = [e for e in trace["traceEvents"] if e["name"] == "aten::addmm"]
        r = next(e for e in ranges if e["name"] == "mg#1#2#aten.addmm.default")
        self.assertEqual((r["cat"], r["ph"], r["pid"], r["tid"], r["ts"], r["dur"]),
                         ("user_annotation", "X", 7, 7, addmm[1]["ts"], addmm[1]["dur"]))
        self.assertEqual(r["args"]["magneton_node"], 3)
        self.assertEqual(attribute(trace["traceEvents"]),
                         {(0, 2): ["gemm"], (0, 3): ["elementwise"], (1, 2): ["gemm"], (1, 3): ["elementwise"]})

    def test_strip_ranges_restores_the_profilers_trace(self):
        trace = small_trace()
        before = len(trace["traceEvents"])
        align.rewrite_trace(trace, [dict(n) for n in NODES])
        self.assertEqual(len(align.strip_ranges(trace["traceEvents"])), before)

    def test_a_trace_without_iteration_ranges_is_refused(self):
        trace = small_trace()
        trace["traceEvents"] = [e for e in trace["traceEvents"] if not e["name"].startswith(align.ITERATION_PREFIX)]
        with self.assertRaises(align.AlignmentError):
            align.rewrite_trace(trace, [dict(n) for n in NODES])

    def test_a_changed_iteration_is_aligned_on_its_own(self):
        trace = small_trace()
        # Iteration 1 lost its mul: the alignment differs there only.
        trace["traceEvents"] = [e for e in trace["traceEvents"]
                                if not (e["name"] == "aten::mul" and e["ts"] > 100)]
        nodes = [dict(n) for n in NODES]
        result = align.rewrite_trace(trace, nodes)
        self.assertEqual(result.summary["distinct_iteration_shapes"], 2)
        self.assertEqual((result.summary["aligned_per_iteration_min"], result.summary["aligned_per_iteration_max"]),
                         (3, 4))
        self.assertEqual(nodes[4]["trace_id"], 3)

    def test_trace_written_as_one_gzip_member_round_trips(self):
        trace = small_trace()
        align.rewrite_trace(trace, [dict(n) for n in NODES])
        trace["traceEvents"].append(x("cpu_op", "aten::nan", float("nan"), 1))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, bundle.KINETO)
            bundle.write_trace(path, trace)
            with open(path, "rb") as f:
                raw = f.read()
            self.assertEqual(raw.count(b"\x1f\x8b\x08"), 1)
            back = bundle.read_trace(path)
            self.assertIsNone(back["traceEvents"][-1]["ts"])  # NaN is written as null, never as a NaN token
            self.assertEqual(len(back["traceEvents"]), len(trace["traceEvents"]))
            self.assertNotIn(b"NaN", gzip.decompress(raw))


if __name__ == "__main__":
    unittest.main()
