import collections
import gzip
import json
import os
import unittest
from unittest import mock

import _support
from magneton_probe import align


def ev(name, ts, dur, tid=1, pid=1):
    return {"ph": "X", "cat": "cpu_op", "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur}


def iteration(k, ts, dur, tid=1):
    return {"ph": "X", "cat": "user_annotation", "name": align.ITERATION_PREFIX + str(k), "pid": 1, "tid": tid,
            "ts": ts, "dur": dur}


class Names(unittest.TestCase):
    def test_profiler_names(self):
        self.assertEqual(align.profiler_name("aten.addmm.default"), "aten::addmm")
        self.assertEqual(align.profiler_name("aten.to.dtype_layout"), "aten::to")
        self.assertEqual(align.profiler_name("mylib.fused.default"), "mylib::fused")
        self.assertEqual(align.range_name(3, 17, "aten.mul.Tensor"), "mg#3#17#aten.mul.Tensor")


class Forest(unittest.TestCase):
    def test_preorder_nests_by_time_and_orders_threads_by_root(self):
        ops = [ev("b", 20, 5), ev("a", 10, 30), ev("c", 26, 2), ev("x", 15, 1, tid=2), ev("d", 50, 1)]
        order, skip = align.preorder(ops)
        names = [ops[k]["name"] for k in order]
        self.assertEqual(names, ["a", "b", "c", "x", "d"])
        self.assertEqual(skip, [3, 2, 3, 4, 5])

    def test_back_to_back_events_are_siblings(self):
        ops = [ev("a", 0, 10), ev("b", 10, 10)]
        order, skip = align.preorder(ops)
        self.assertEqual(skip, [1, 2])

    def test_restrict_recomputes_subtree_ends(self):
        ops = [ev("linear", 0, 100), ev("t", 1, 10), ev("transpose", 2, 5), ev("addmm", 20, 50), ev("add", 200, 5)]
        order, skip = align.preorder(ops)
        kept, kskip = align.restrict(order, skip, lambda p: ops[order[p]]["name"] in ("t", "addmm", "add"))
        self.assertEqual([ops[order[p]]["name"] for p in kept], ["t", "addmm", "add"])
        self.assertEqual(kskip, [1, 2, 3])


class Lcs(unittest.TestCase):
    def test_composite_wrappers_and_nested_calls_are_skipped(self):
        # profiler: linear > (t > transpose), addmm; semantic pass: t, addmm
        sem = ["aten::t", "aten::addmm"]
        evs = ["aten::linear", "aten::t", "aten::transpose", "aten::addmm"]
        skip = [4, 3, 3, 4]
        self.assertEqual(align.lcs_forest(sem, evs, skip), [(0, 1), (1, 3)])

    def test_outermost_event_of_a_nested_duplicate_wins(self):
        sem = ["aten::embedding", "aten::add"]
        evs = ["aten::embedding", "aten::embedding", "aten::index_select", "aten::add"]
        skip = [3, 3, 3, 4]
        self.assertEqual(align.lcs_forest(sem, evs, skip), [(0, 0), (1, 3)])

    def test_a_detach_the_profiler_did_not_see_is_dropped(self):
        sem = ["aten::arange", "aten::detach", "aten::add", "aten::unsqueeze"]
        evs = ["aten::arange", "aten::add", "aten::unsqueeze"]
        self.assertEqual(align.lcs_forest(sem, evs, [1, 2, 3]), [(0, 0), (2, 1), (3, 2)])

    def test_a_dropped_semantic_node_does_not_pull_the_match_inward(self):
        sem = ["aten::detach", "aten::embedding"]
        evs = ["aten::embedding", "aten::embedding"]
        self.assertEqual(align.lcs_forest(sem, evs, [2, 2]), [(1, 0)])

    def test_windows_agree_with_the_full_alignment(self):
        unit_sem = ["aten::view", "aten::detach", "aten::addmm", "aten::mul", "aten::add"]
        unit_ev = [("aten::view", 1), ("aten::linear", 3), ("aten::t", 1), ("aten::addmm", 1), ("aten::mul", 1),
                   ("aten::add", 2), ("aten::add", 1)]
        sem, evs, skip = [], [], []
        for r in range(120):
            sem.extend(unit_sem)
            base = len(evs)
            for name, span in unit_ev:
                skip.append(len(evs) + span)
                evs.append(name)
        full = align.lcs_forest(sem, evs, skip)
        with mock.patch.object(align, "FULL_DP_CELLS", 1000), mock.patch.object(align, "WINDOW_NODES", 60):
            windowed = align.lcs_forest(sem, evs, skip)
        self.assertEqual(len(full), 4 * 120)
        self.assertEqual(windowed, full)


class RealTraces(unittest.TestCase):
    """The mg# ranges of the H100 captures stripped, the alignment redone from the profiler's cpu_op events."""

    def check(self, relative):
        path = _support.sample(relative)
        if path is None:
            self.skipTest("samples/%s is not in this checkout" % relative)
        with gzip.open(os.path.join(path, "kineto.json.gz"), "rt") as f:
            trace = json.load(f)
        with open(os.path.join(path, "dataflow.json")) as f:
            nodes = json.load(f)["nodes"]
        ref = [e for e in trace["traceEvents"] if e.get("cat") == "user_annotation" and e["name"].startswith("mg#")]
        # Iteration windows from the reference ranges (the reference capture had no per-iteration annotation).
        win = collections.defaultdict(lambda: [float("inf"), float("-inf")])
        for e in ref:
            w = win[int(e["name"].split("#")[1])]
            w[0], w[1] = min(w[0], e["ts"]), max(w[1], e["ts"] + e["dur"])
        windows = sorted((k, a, b) for k, (a, b) in win.items())
        trace["traceEvents"] = align.strip_ranges(trace["traceEvents"])
        mine = [dict(n) for n in nodes]
        result = align.rewrite_trace(trace, mine, windows)
        self.assertEqual([n["trace_id"] for n in mine], [n["trace_id"] for n in nodes])
        self.assertEqual(result.summary["ranges_added"], len(ref))
        self.assertEqual(result.summary["distinct_iteration_shapes"], 1)
        return result

    def test_gpt2_gelu_new(self):
        r = self.check(_support.GPT2_A)
        self.assertEqual(r.summary["unaligned_ops"], {"aten.detach.default": 1})

    def test_gpt2_gelu_pytorch_tanh(self):
        self.check(_support.GPT2_B)

    def test_llama_generate_uses_windows(self):
        r = self.check(_support.LLAMA_A)
        self.assertEqual(r.summary["unaligned_ops"], {"aten.detach.default": 41})


if __name__ == "__main__":
    unittest.main()
