import json
import math
import os
import random
import struct
import unittest

import _support
from magneton_probe import fingerprint as fp


def bf16(x):
    """Round a float to bfloat16 (round to nearest even on the float32 bits), as .to(torch.bfloat16) does."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits += 0x7FFF + ((bits >> 16) & 1)
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFF0000))[0]


class Definitions(unittest.TestCase):
    def test_stats_are_float64_population_moments(self):
        d = fp.fingerprint([1.0, 2.0, 3.0, 4.0], [2, 2], "float32", with_spectra=False)
        s = d["stats"]
        self.assertEqual(list(s), list(fp.STAT_KEYS))
        self.assertEqual(s["mean"], 2.5)
        self.assertAlmostEqual(s["std"], math.sqrt(1.25), places=15)  # correction 0
        self.assertEqual((s["min"], s["max"], s["absmean"]), (1.0, 4.0, 2.5))
        self.assertAlmostEqual(s["l2"], math.sqrt(30.0), places=15)
        self.assertEqual(d["nonfinite"], 0)

    def test_deciles_take_rounded_positions_of_the_float32_sort(self):
        values = list(range(100))
        random.Random(1).shuffle(values)
        d = fp.fingerprint([float(v) for v in values], [100], "float32")
        # round((m - 1) * q / 10) with Python's round: 9.9 -> 10, 49.5 -> 50 (half to even), 59.4 -> 59
        self.assertEqual(d["deciles"], [10.0, 20.0, 30.0, 40.0, 50.0, 59.0, 69.0, 79.0, 89.0])
        self.assertEqual(fp.decile_positions(11), [1, 2, 3, 4, 5, 6, 7, 8, 9])
        self.assertEqual(fp.to_float32(0.1), struct.unpack("f", struct.pack("f", 0.1))[0])

    def test_nonfinite_elements_are_counted_and_left_out(self):
        d = fp.fingerprint([1.0, float("nan"), 3.0, float("inf")], [4], "float32")
        self.assertEqual(d["nonfinite"], 2)
        self.assertEqual(d["stats"]["mean"], 2.0)
        self.assertEqual(len(d["deciles"]), 9)
        all_bad = fp.fingerprint([float("nan")] * 4, [2, 2], "float16")
        self.assertNotIn("stats", all_bad)
        self.assertNotIn("spectra", all_bad)
        self.assertEqual(all_bad["nonfinite"], 4)
        self.assertIsNone(fp.jnum(float("inf")))

    def test_integer_and_bool_values_get_istats(self):
        d = fp.fingerprint([0, 3, -2, 5], [4], "int64")
        self.assertEqual(d["istats"], {"sum": 6, "min": -2, "max": 5, "nonzero": 3, "sumsq": 38.0})
        self.assertNotIn("stats", d)
        b = fp.fingerprint([1, 0, 1], [3], "bool")
        self.assertEqual(b["istats"]["nonzero"], 2)

    def test_empty_tensor_has_meta_only(self):
        self.assertEqual(fp.fingerprint([], [0], "bfloat16"),
                         {"shape": [0], "dtype": "bfloat16", "stride": [1], "numel": 0, "device": "cpu"})
        self.assertEqual(fp.contiguous_stride([2, 3, 4]), [12, 4, 1])
        self.assertEqual(fp.contiguous_stride([]), [])

    def test_unfoldings_contain_dim0_and_not_all_dims(self):
        self.assertEqual([fp.unfolding_key(r, c) for r, c in fp.unfoldings(2)], ["0|1"])
        self.assertEqual([fp.unfolding_key(r, c) for r, c in fp.unfoldings(3)], ["0|12", "01|2", "02|1"])
        self.assertEqual(len(fp.unfoldings(4)), 7)

    def test_singular_values(self):
        sv = fp.singular_values([[3.0, 0.0], [4.0, 5.0]])  # A^T A has eigenvalues 45 and 5
        self.assertAlmostEqual(sv[0], math.sqrt(45), places=12)
        self.assertAlmostEqual(sv[1], math.sqrt(5), places=12)
        rank1 = fp.singular_values([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
        self.assertAlmostEqual(rank1[0], math.sqrt(14 * 5), places=12)
        self.assertAlmostEqual(rank1[1], 0.0, places=12)
        self.assertEqual(fp.singular_values([[2.0], [0.0]]), [2.0])

    def test_spectra_are_invariant_to_permutation_of_the_unfolded_dims(self):
        rng = random.Random(3)
        shape = [3, 4, 5]
        x = [fp.to_float32(rng.gauss(0, 1)) for _ in range(60)]
        d = fp.fingerprint(x, shape, "float32")
        self.assertEqual(set(d["spectra"]), {"0|12", "01|2", "02|1"})
        self.assertTrue(all(len(v) <= fp.SPECTRA_TOP for v in d["spectra"].values()))
        # The same tensor permuted to [3, 5, 4] (dims 1 and 2 swapped): 0|12 and 01|2 <-> 02|1 keep their values.
        y = [x[i * 20 + k * 5 + j] for i in range(3) for j in range(5) for k in range(4)]
        e = fp.fingerprint(y, [3, 5, 4], "float32")
        for a, b in (("0|12", "0|12"), ("01|2", "02|1"), ("02|1", "01|2")):
            for u, v in zip(d["spectra"][a], e["spectra"][b]):
                self.assertAlmostEqual(u, v, delta=1e-5 * d["spectra"][a][0])
        # Stats and deciles do not see the layout at all.
        self.assertEqual(d["deciles"], e["deciles"])
        self.assertEqual(d["stats"], e["stats"])

    def test_no_spectra_above_rank_4_or_4m_elements(self):
        d = fp.fingerprint([1.0] * 32, [2, 2, 2, 2, 2], "float32")
        self.assertNotIn("spectra", d)


class AgainstRealCaptures(unittest.TestCase):
    """Values of the H100 samples whose contents are known exactly, fingerprinted again here."""

    def load(self, relative):
        path = _support.sample(relative)
        if path is None:
            self.skipTest("samples/%s is not in this checkout" % relative)
        with open(os.path.join(path, "dataflow.json")) as f:
            return json.load(f)

    def strip(self, rec):
        return {k: v for k, v in rec.items() if k not in ("kind", "producer", "device", "spectra")}

    def test_position_ids_istats(self):
        d = self.load(_support.GPT2_A)
        arange = d["values"]["4"]  # aten.arange(512) of GPT-2's position ids
        self.assertEqual(d["nodes"][2]["op"], "aten.arange.default")
        mine = fp.fingerprint(list(range(512)), [512], "int64")
        self.assertEqual(self.strip(mine), self.strip(arange))

    def test_layer_norm_weight_and_bias(self):
        d = self.load(_support.GPT2_A)
        ones = d["values"]["22"]
        self.assertEqual(self.strip(fp.fingerprint([1.0] * 1024, [1024], "bfloat16")), self.strip(ones))
        zeros = d["values"]["26"]
        self.assertEqual(self.strip(fp.fingerprint([0.0] * 3072, [3072], "bfloat16")), self.strip(zeros))

    def test_llama_rotary_inverse_frequencies(self):
        d = self.load(_support.LLAMA_A)
        ref = d["values"]["34"]  # inv_freq = 1 / 10000^(2i/64), i < 32, stored in bfloat16
        values = [bf16(fp.to_float32(1.0 / (10000.0 ** fp.to_float32(2 * i / 64.0)))) for i in range(32)]
        mine = fp.fingerprint(values, [32], "bfloat16")
        self.assertEqual(mine["deciles"], ref["deciles"])
        for k in fp.STAT_KEYS:
            self.assertAlmostEqual(mine["stats"][k], ref["stats"][k], delta=1e-12 * max(1.0, abs(ref["stats"][k])))

    def test_record_keys_are_the_captures_keys(self):
        d = self.load(_support.GPT2_A)
        real = {tuple(sorted(v)) for v in d["values"].values()}
        rng = random.Random(5)
        cases = [fp.fingerprint([rng.gauss(0, 1) for _ in range(24)], [2, 3, 4], "bfloat16", device="cuda"),
                 fp.fingerprint([rng.gauss(0, 1) for _ in range(7)], [7], "bfloat16", device="cuda"),
                 fp.fingerprint([1, 2, 3], [3], "int64", device="cuda")]
        for rec in cases:
            rec["kind"], rec["producer"] = "activation", 0
            self.assertIn(tuple(sorted(rec)), real)
        spectra = next(v["spectra"] for v in d["values"].values() if "spectra" in v and len(v["shape"]) == 3)
        self.assertEqual(sorted(spectra), sorted(cases[0]["spectra"]))


class Budgets(unittest.TestCase):
    def test_spectra_budget_is_a_prefix_by_elements(self):
        b = fp.SpectraBudget(100)
        self.assertEqual([b.take(n) for n in (30, 30, 30, 30, 5)], [True, True, True, False, False])


class Warm(unittest.TestCase):
    def test_warm_runs_the_job_for_at_least_the_time_asked(self):
        from magneton_probe import measure
        calls, syncs = [], []
        took = measure.warm(lambda: calls.append(1), 0.05, lambda: syncs.append(1))
        self.assertGreaterEqual(took, 0.05)
        self.assertGreater(len(calls), 0)
        self.assertGreaterEqual(len(syncs), len(calls))


if __name__ == "__main__":
    unittest.main()
