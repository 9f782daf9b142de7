import unittest

import _support  # noqa: F401
from magneton_probe import replay, semantic


def node(nid, op, trace_id, view=False, mutable=False, ins=(0,), outs=(1,), module="m"):
    return {"id": nid, "op": op, "trace_id": trace_id, "view": view, "mutable": mutable, "in": list(ins),
            "out": list(outs), "module": module}


VALUES = {0: {"device": "cuda"}, 1: {"device": "cuda"}, 2: {"device": "cpu"}}


class Refusals(unittest.TestCase):
    def test_reasons(self):
        r = semantic.replay_refusal
        self.assertIn("view", r("aten.view.default", node(0, "aten.view.default", 0, view=True), VALUES))
        self.assertIn("in-place", r("aten.add_.Tensor", node(0, "aten.add_.Tensor", 0, mutable=True), VALUES))
        self.assertIn("no tensor", r("aten.arange.default", node(0, "aten.arange.default", 0, ins=()), VALUES))
        for op in ("aten.nonzero.default", "aten._local_scalar_dense.default", "aten.bernoulli_.float",
                   "aten.randn.default", "aten.index.Tensor", "aten.is_nonzero.default"):
            self.assertIsNotNone(r(op, node(0, op, 0), VALUES), op)
        self.assertIn("CPU", r("aten.add.Tensor", node(0, "aten.add.Tensor", 0, ins=(2,), outs=(2,)), VALUES))
        self.assertIsNone(r("aten.addmm.default", node(0, "aten.addmm.default", 0), VALUES))
        self.assertIsNone(r("aten.native_layer_norm.default", node(0, "aten.native_layer_norm.default", 0), VALUES))


class Plan(unittest.TestCase):
    def test_plan_keeps_first_calls_with_a_trace_id_and_groups_the_rest(self):
        nodes = [node(0, "aten.view.default", 0, view=True), node(1, "aten.addmm.default", 1),
                 node(2, "aten.mul.Tensor", None), node(3, "aten.nonzero.default", 2),
                 node(4, "aten.nonzero.default", 3), node(5, "aten.addmm.default", 4)]
        calls = {1: "call", 2: "call"}
        refusals = {0: "view", 3: "data-dependent", 4: "data-dependent"}
        todo, skipped = replay.plan(nodes, calls, refusals)
        self.assertEqual([n["id"] for n in todo], [1])
        by_op = {s["op"]: s for s in skipped}
        self.assertEqual(by_op["aten.mul.Tensor"]["reason"], "not seen in the energy pass (no trace_id)")
        self.assertEqual((by_op["aten.nonzero.default"]["nodes"], by_op["aten.nonzero.default"]["first_node"]), (2, 3))
        self.assertNotIn("aten.view.default", by_op)

    def test_items(self):
        n = node(7, "aten.addmm.default", 5, module="transformer.h.0.mlp.c_fc")
        measured = {"window_unix_ns": [10, 20], "launches": 100, "gpu_s": 0.5}
        item = replay.op_item(n, measured, "graph", 50)
        self.assertEqual((item["kind"], item["id"], item["node"], item["calls"]), ("op", 5, 7, 5000))
        self.assertAlmostEqual(item["call_us"], 100.0)
        loop = replay.op_item(n, measured, "loop(RuntimeError)", 1, "RuntimeError('capture')")
        self.assertEqual(loop["graph_error"], "RuntimeError('capture')")
        err = replay.error_item(n, "x" * 1000)
        self.assertEqual(len(err["error"]), 300)
        self.assertNotIn("window_unix_ns", err)
        mod = replay.module_item("transformer.h.0.mlp", "GPT2MLP", measured, "graph", 2)
        self.assertEqual((mod["kind"], mod["id"], mod["module"], mod["calls"]), ("module", "transformer.h.0.mlp",
                                                                                 "transformer.h.0.mlp", 200))

    def test_repeats_take_the_longest_measured_ops(self):
        items = [{"kind": "op", "window_unix_ns": [0, 1], "call_us": 5.0},
                 {"kind": "op", "error": "x"},
                 {"kind": "op", "window_unix_ns": [0, 1], "call_us": 50.0},
                 {"kind": "module", "window_unix_ns": [0, 1], "call_us": 500.0},
                 {"kind": "op", "window_unix_ns": [0, 1], "call_us": 20.0}]
        self.assertEqual(replay.pick_repeats(items, 2), [2, 4])
        self.assertEqual(replay.pick_repeats(items, 0), [])

    def test_document(self):
        doc = replay.document("sys", [], [1, 2], [{"op": "x"}], budget_left=-1.0)
        self.assertEqual(doc["idle"], {"window_unix_ns": [1, 2]})
        self.assertIn("budget", doc["note"])
        self.assertNotIn("repeats", doc)


class Event:
    def __init__(self, name, device_type):
        self.name, self.device_type = name, device_type


class FakeTensor:
    """What replay reads of a tensor for a signature: dtype, shape, stride()."""

    def __init__(self, dtype, shape, stride):
        self.dtype, self.shape, self._stride = dtype, shape, stride

    def stride(self):
        return self._stride


class EnergySideRecords(unittest.TestCase):
    def test_kernel_names_of_a_profiled_launch_keep_gpu_activities_in_order(self):
        events = [Event("aten::addmm", "DeviceType.CPU"), Event("ampere_sgemm_128x64", "DeviceType.CUDA"),
                  Event("cudaLaunchKernel", "DeviceType.CPU"), Event("Memset (Device)", "DeviceType.CUDA")]
        self.assertEqual(replay.kernel_names(events), ["ampere_sgemm_128x64", "Memset (Device)"])
        many = [Event("k%d" % i, "DeviceType.CUDA") for i in range(100)]
        self.assertEqual(len(replay.kernel_names(many)), replay.MAX_KERNELS)

    def test_items_carry_the_kernels_and_a_module_its_input_signature(self):
        n = node(7, "aten.addmm.default", 5)
        measured = {"window_unix_ns": [10, 20], "launches": 100, "gpu_s": 0.5}
        self.assertEqual(replay.op_item(n, measured, "graph", 50, kernels=["gemm"])["kernels"], ["gemm"])
        self.assertNotIn("kernels", replay.op_item(n, measured, "graph", 50))
        x = FakeTensor("torch.bfloat16", (8, 512, 1024), (524288, 1024, 1))
        sig = replay.call_signature((x,), {"use_cache": False, "attention_mask": None, "dims": (1, x)})
        self.assertEqual(sig, ["bfloat16[8,512,1024]s[524288,1024,1]", "attention_mask=None",
                               "dims=(1,bfloat16[8,512,1024]s[524288,1024,1])", "use_cache=False"])
        mod = replay.module_item("transformer.h.0.mlp", "GPT2MLP", measured, "graph", 2, kernels=["a", "b"],
                                 inputs=sig)
        self.assertEqual((mod["kernels"], mod["inputs"]), (["a", "b"], sig))

    def test_the_module_call_drops_the_cache_and_says_what_it_called_with(self):
        calls = []

        def m(*args, **kwargs):
            calls.append((args, kwargs))
        call, kwargs = replay._module_call(m, (1,), {"past_key_values": object(), "use_cache": True, "x": 2})
        call()
        self.assertEqual(kwargs, {"past_key_values": None, "use_cache": False, "x": 2})
        self.assertEqual(calls, [((1,), kwargs)])


if __name__ == "__main__":
    unittest.main()
