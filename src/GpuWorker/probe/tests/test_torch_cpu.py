"""The probe on real PyTorch, on CPU tensors: the semantic pass's bugs found on real tensors, and a CPU capture.

Skipped where torch is not importable (the host's python3); CI runs this file through the interpreter of
scripts/torch-env.sh (a Debian sid chroot with torch 2.x), from xunit's ProbeUnitTests.
"""
import gc
import json
import os
import shutil
import tempfile
import unittest
import weakref

import _support  # noqa: F401

try:
    import torch
except ImportError:  # the pure tests run without torch
    torch = None

from magneton_probe import bundle, fingerprint, semantic, session
from magneton_probe.errors import ProbeError


def semantic_pass(step, inputs=(), keep_replay=False, budget=None, model=None):
    tracker = semantic.ModuleTracker()
    if model is not None:
        tracker.add_root("", model)
    kinds = semantic.ValueKinds(tracker, list(inputs))
    frames = semantic.FrameFilter([os.path.dirname(torch.__file__), semantic.PACKAGE_DIR])
    with torch.inference_mode():
        mode, _ = semantic.run_semantic_pass(torch, step, tracker, kinds, frames, budget, keep_replay=keep_replay,
                                             sync=lambda: None)
    return mode


@unittest.skipIf(torch is None, "PyTorch is not importable here (run through scripts/torch-env.sh's interpreter)")
class SemanticPassOnRealTensors(unittest.TestCase):
    def test_a_fingerprint_error_fails_with_the_value_and_the_operator(self):
        x = torch.randn(4, 5)
        real = fingerprint.tensor_fingerprint

        def failing(t, budget=None):
            if t.dtype == torch.float64:
                raise RuntimeError("no kernel for this\nvalue")
            return real(t, budget)
        fingerprint.tensor_fingerprint = failing
        try:
            with self.assertRaises(ProbeError) as cm:
                semantic_pass(lambda: (x * 2).to(torch.float64), [x])
        finally:
            fingerprint.tensor_fingerprint = real
        msg = str(cm.exception)
        self.assertNotIn("\n", msg)
        self.assertIn("value 2", msg)  # x is value 0, x * 2 value 1, the float64 copy value 2
        self.assertIn("aten.to.dtype", msg)
        self.assertIn("output", msg)
        self.assertIn("no kernel for this value", msg)

    def test_a_storage_error_fails_instead_of_turning_alias_tracking_off(self):
        x = torch.randn(3)
        real = torch.Tensor.untyped_storage

        def broken(self):
            raise RuntimeError("storage gone")
        torch.Tensor.untyped_storage = broken
        try:
            with self.assertRaises(ProbeError) as cm:
                semantic_pass(lambda: x + 1, [x])
        finally:
            torch.Tensor.untyped_storage = real
        self.assertIn("storage cannot be read", str(cm.exception))
        self.assertIn("aten.add.Tensor", str(cm.exception))

    def test_tensors_are_released_once_fingerprinted(self):
        x = torch.randn(64, 64)
        alive = []

        def step():
            y = x * 2
            ref = weakref.ref(y)
            del y
            gc.collect()
            alive.append(ref() is not None)
            return x + 1
        mode = semantic_pass(step, [x])
        self.assertEqual(alive, [False], "the semantic pass kept a tensor the job had freed")
        self.assertEqual([n["op"] for n in mode.nodes], ["aten.mul.Tensor", "aten.add.Tensor"])
        self.assertIn("stats", mode.values[1])

    def test_in_place_writes_alias_values_still_tracked(self):
        x = torch.randn(4, 4)

        def step():
            a = x * 1
            v = a.view(16)
            a.mul_(3)  # writes a, and so v: both get new value ids
            return v + 0
        mode = semantic_pass(step, [x])
        mul_ = next(n for n in mode.nodes if n["op"] == "aten.mul_.Tensor")
        self.assertEqual(len(mul_["aliases_updated"]), 1)
        last = mode.nodes[-1]
        self.assertEqual(last["in"], mul_["aliases_updated"])

    def test_replay_inputs_are_cloned_when_recorded(self):
        x = torch.randn(8)

        def step():
            a = x * 1
            b = a + 1  # kept for replay with input a
            a.mul_(3)  # a later in-place write to the kept input
            return b
        mode = semantic_pass(step, [x], keep_replay=True)
        # The CPU refuses replay ("runs on the CPU"); force the GPU rule off to see what would be kept.
        add = next(n for n in mode.nodes if n["op"] == "aten.add.Tensor")
        self.assertIn("CPU", mode.refusals[add["id"]])
        semantic_refusal = semantic.replay_refusal
        semantic.replay_refusal = lambda op, node, values, copied=False: (
            None if op != "aten.mul_.Tensor" and (not node["view"] or copied) else "view or in-place")
        try:
            mode = semantic_pass(step, [x], keep_replay=True)
        finally:
            semantic.replay_refusal = semantic_refusal
        add = next(n for n in mode.nodes if n["op"] == "aten.add.Tensor")
        func, args, kwargs = mode.replay_calls[add["id"]]
        self.assertTrue(torch.equal(args[0], x * 1), "the replay input was changed by the job's later a.mul_(3)")
        self.assertTrue(torch.equal(func(*args, **kwargs), x * 1 + 1))

    def test_copy_capable_operators_are_replayable_when_they_copied(self):
        x = torch.randn(4, 5)
        mode = semantic_pass(lambda: (x.t().contiguous(), x.to(torch.float64), x.reshape(20)), [x], keep_replay=True)
        by_op = {n["op"]: n for n in mode.nodes}
        for op in ("aten.contiguous.default", "aten.to.dtype"):
            self.assertTrue(by_op[op]["view"], op)  # the schema allows an alias ...
            self.assertNotIn("view", mode.refusals[by_op[op]["id"]], op)  # ... but it copied: only the CPU refuses
        for op in ("aten.t.default", "aten.reshape.default"):  # real views
            self.assertIn("view", mode.refusals[by_op[op]["id"]], op)

    def test_spectra_budget_is_by_elements_and_reproducible(self):
        x = torch.randn(6, 5)

        def step():
            return [x * k for k in range(1, 6)]
        runs = [semantic_pass(step, [x], budget=fingerprint.SpectraBudget(100)) for _ in range(2)]
        with_spectra = [[vid for vid, v in sorted(m.values.items()) if "spectra" in v] for m in runs]
        self.assertEqual(with_spectra[0], with_spectra[1])
        self.assertEqual(with_spectra[0], [0, 1, 2])  # 30 elements each: three fit in 100, then none
        self.assertEqual(runs[0].values, runs[1].values)

    def test_deciles_by_selection_equal_the_sorted_positions(self):
        g = torch.Generator().manual_seed(3)
        for n in (1, 2, 9, 10, 11, 1000, 4097):
            x = torch.randn(n, generator=g)
            s = torch.sort(x).values
            want = [s[p].item() for p in fingerprint.decile_positions(n)]
            self.assertEqual(fingerprint.torch_deciles(torch, x), want, n)


@unittest.skipIf(torch is None, "PyTorch is not importable here (run through scripts/torch-env.sh's interpreter)")
class CpuCapture(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="magneton-cpu-capture-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def capture(self, config):
        torch.manual_seed(0)
        lin = torch.nn.Linear(8, 4)
        x = torch.randn(2, 8)
        cfg = session.Config(os.path.join(self.dir, "b"), "tiny", device="cpu", baseline_seconds=0.05, warmup=1)
        return session.Session(cfg, lambda: torch.relu(lin(x)), model=lin, inputs=[x], config=config).capture(), cfg

    def test_a_cpu_capture_is_a_complete_bundle_without_energy(self):
        result, cfg = self.capture({"dtype": torch.float32, "device": torch.device("cpu"), "sizes": (1, 2)})
        self.assertEqual(result["operators"], result["aligned"])
        files = sorted(os.listdir(cfg.out))
        self.assertEqual(files, ["context.json", "dataflow.json", "kineto.json.gz", "measure.json", "power.csv"])
        m = bundle.read_json(os.path.join(cfg.out, "measure.json"))
        self.assertEqual(m["device"], "cpu")
        self.assertEqual(m["warm_s"], 0.0)
        self.assertIsNone(m["baseline"]["energy_counter_j"])
        self.assertEqual(m["energy_pass"]["profiler"]["activities"], ["cpu"])
        self.assertIsNone(m["replay_s"])
        with open(os.path.join(cfg.out, "power.csv")) as f:
            self.assertEqual(f.read(), bundle.CSV_HEADER + "\n")
        df = bundle.read_json(os.path.join(cfg.out, "dataflow.json"))
        self.assertEqual(bundle.check_dataflow(df), [])
        # Any config value is written (a torch.dtype once crashed write_json after every pass had run).
        self.assertEqual(df["config"], {"dtype": "torch.float32", "device": "cpu", "sizes": [1, 2]})
        self.assertEqual(m["config"], df["config"])
        trace = bundle.read_trace(os.path.join(cfg.out, "kineto.json.gz"))
        ranges = [e for e in trace["traceEvents"] if str(e.get("name", "")).startswith("mg#")]
        self.assertTrue(ranges)
        self.assertFalse([e for e in trace["traceEvents"] if e.get("cat") == "kernel"])

    def test_two_captures_of_one_job_write_the_same_dataflow(self):
        written = []
        for _ in range(2):  # the same call site: stacks name the line
            _, cfg = self.capture({"k": 1})
            with open(os.path.join(cfg.out, "dataflow.json"), "rb") as f:
                written.append(f.read())
            shutil.rmtree(cfg.out)
        self.assertEqual(written[0], written[1])
        self.assertTrue(json.loads(written[0])["values"]["0"]["spectra"])


if __name__ == "__main__":
    unittest.main()
