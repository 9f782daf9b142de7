"""The documents the probe writes have the fields Core's readers need: compared with the real H100 bundles."""
import json
import os
import shutil
import tempfile
import unittest

import _support
from magneton_probe import bundle, synthetic


def load(directory, name):
    with open(os.path.join(directory, name)) as f:
        return json.load(f)


class Written(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="magneton-probe-test-")
        cls.out = os.path.join(cls.tmp, "A")
        synthetic.write(cls.out, "gelu_new")
        cls.real = _support.sample(_support.GPT2_A)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def need_real(self):
        if self.real is None:
            self.skipTest("samples/ is not in this checkout")

    def test_the_bundle_has_every_file(self):
        files = set(os.listdir(self.out))
        self.assertEqual(files, set(bundle.REQUIRED) | set(bundle.OPTIONAL))

    def test_dataflow_keys_match_the_real_capture(self):
        self.need_real()
        mine, real = load(self.out, bundle.DATAFLOW), load(self.real, bundle.DATAFLOW)
        self.assertEqual(set(mine) - {"pair", "role"}, set(real) - {"pair", "role"})
        self.assertEqual({tuple(sorted(n)) for n in mine["nodes"]}, {tuple(sorted(n)) for n in real["nodes"]})
        real_value_keys = {tuple(sorted(v)) for v in real["values"].values()}
        for v in mine["values"].values():
            self.assertIn(tuple(sorted(v)), real_value_keys)
        self.assertEqual(bundle.check_dataflow(mine), [])
        self.assertEqual(bundle.check_dataflow(real), [])
        self.assertEqual(set(bundle.NODE_KEYS), set(real["nodes"][0]))

    def test_measure_sections_hold_the_real_fields(self):
        self.need_real()
        mine, real = load(self.out, bundle.MEASURE), load(self.real, bundle.MEASURE)
        for key in ("baseline", "energy_pass"):
            missing = set(real[key]) - set(mine[key]) - {"op_sequence_mismatch"}
            self.assertEqual(missing, set(), key)
        self.assertTrue(set(bundle.BASELINE_KEYS) <= set(mine["baseline"]))
        self.assertTrue(set(bundle.ENERGY_PASS_KEYS) <= set(mine["energy_pass"]))
        self.assertIsInstance(mine["baseline"]["energy_counter_j"], float)
        self.assertIsInstance(mine["baseline"]["window_unix_ns"][0], int)

    def test_replay_items_hold_the_real_fields(self):
        self.need_real()
        mine, real = load(self.out, bundle.REPLAY), load(self.real, bundle.REPLAY)
        real_op = next(i for i in real["items"] if i["kind"] == "op")
        for item in mine["items"]:
            self.assertEqual(set(real_op) - set(item), set())
        self.assertEqual(set(real["idle"]), set(mine["idle"]))
        self.assertTrue(all(isinstance(i["id"], int) for i in mine["items"] if i["kind"] == "op"))

    def test_context_has_the_real_sections(self):
        self.need_real()
        mine, real = load(self.out, bundle.CONTEXT), load(self.real, bundle.CONTEXT)
        self.assertEqual(set(mine), set(real))
        frame, body = next(iter(mine["source"].items()))
        self.assertEqual(set(body), {"lines"})
        self.assertTrue(all(isinstance(n, int) and isinstance(t, str) for n, t in body["lines"]))

    def test_csv_files_have_the_header_and_integer_rows(self):
        for name in (bundle.POWER, bundle.BASELINE_POWER, bundle.REPLAY_COUNTER):
            with open(os.path.join(self.out, name)) as f:
                self.assertEqual(f.readline().strip(), bundle.CSV_HEADER)
                row = f.readline().strip().split(",")
                self.assertEqual(len(row), 4)
                self.assertTrue(all(c.lstrip("-").isdigit() for c in row))


class Checks(unittest.TestCase):
    def test_check_dataflow_names_the_broken_field(self):
        doc = bundle.dataflow("s", [{"id": 0, "op": "aten.add.Tensor", "module": "", "stack": [], "in": [5],
                                     "out": [1], "mutable": False, "view": False, "aliases_updated": [], "args": "",
                                     "trace_id": 0}],
                              {1: {"shape": [2], "dtype": "float32", "stride": [1, 1], "numel": 2,
                                   "kind": "activation", "producer": 3}})
        problems = bundle.check_dataflow(doc)
        self.assertTrue(any("nodes[0].in names value 5" in p for p in problems))
        self.assertTrue(any("producer names node 3" in p for p in problems))
        self.assertTrue(any("stride" in p for p in problems))

    def test_clean_nulls_non_finite_numbers(self):
        self.assertEqual(bundle.clean({"a": float("nan"), "b": [1.0, float("-inf")], 3: (1, 2)}),
                         {"a": None, "b": [1.0, None], "3": [1, 2]})

    def test_signature_is_cores(self):
        values = {0: {"dtype": "bfloat16", "shape": [8, 512, 1024], "stride": [524288, 1024, 1]},
                  1: {"dtype": "bfloat16", "shape": [1024], "stride": [1]}}
        node = {"op": "aten.add.Tensor", "args": "T,T", "in": [0, 1]}
        self.assertEqual(bundle.signature(node, values),
                         "aten.add.Tensor|T,T|bfloat16[8,512,1024]s[524288,1024,1]|bfloat16[1024]s[1]")


class ConfigValues(unittest.TestCase):
    def test_any_config_value_is_written(self):
        class Dtype:
            def __str__(self):
                return "torch.float32"
        doc = bundle.clean({"dtype": Dtype(), "nan": float("nan"), "sizes": (1, 2), "tags": {"b", "a"},
                            "nested": {3: [Dtype()]}, "ok": True, "n": None})
        self.assertEqual(doc, {"dtype": "torch.float32", "nan": None, "sizes": [1, 2], "tags": ["a", "b"],
                               "nested": {"3": ["torch.float32"]}, "ok": True, "n": None})
        json.dumps(doc, allow_nan=False)


if __name__ == "__main__":
    unittest.main()
