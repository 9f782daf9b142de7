import csv
import json
import os
import shutil
import tempfile
import unittest

import _support
from magneton_probe import bundle, finalize


def rows_every(period_ns, updates_ns, watts, start=0, end=2_000_000_000, energy0=1000):
    rows = []
    counter = energy0
    t = start
    last = start
    while t <= end:
        if t - last >= updates_ns:
            counter += int(watts * (t - last) / 1e6)
            last = t
        rows.append((t, -1, -1, counter))
        t += period_ns
    return rows


class CounterWindow(unittest.TestCase):
    def test_power_from_the_updates_inside_the_window(self):
        rows = rows_every(5_000_000, 100_000_000, 300.0)
        power, energy, updates, period = finalize.counter_window(rows, 250_000_000, 1_250_000_000)
        self.assertAlmostEqual(power, 300.0, places=6)
        self.assertEqual(updates, 10)
        self.assertAlmostEqual(period, 100.0, places=6)
        self.assertAlmostEqual(energy, 300.0, places=6)  # 300 W for 1 s

    def test_fewer_than_two_updates_give_no_power(self):
        rows = rows_every(5_000_000, 100_000_000, 300.0)
        self.assertEqual(finalize.counter_window(rows, 110_000_000, 190_000_000)[:3], (None, None, 0))
        self.assertEqual(finalize.counter_difference(rows, 0, 1_000_000_000), 300.0)

    def test_unread_counters_are_skipped(self):
        rows = [(0, -1, -1, 10), (1, -1, -1, -1), (2, -1, -1, 20), (3, -1, -1, 30), (4, -1, -1, 40)]
        self.assertEqual(finalize.counter_window(rows, 0, 10)[2], 2)

    def test_reproduces_the_real_replay_powers(self):
        path = _support.sample(_support.GPT2_A)
        if path is None:
            self.skipTest("samples/ is not in this checkout")
        rows = finalize.read_samples(os.path.join(path, bundle.REPLAY_COUNTER))
        replay = bundle.read_json(os.path.join(path, bundle.REPLAY))
        checked = 0
        for item in replay["items"]:
            power, _, updates, _ = finalize.counter_window(rows, *item["window_unix_ns"])
            self.assertEqual(updates, item["counter_updates"])
            self.assertAlmostEqual(power, item["power_w"], delta=1e-9 * item["power_w"])
            checked += 1
        self.assertGreater(checked, 10)
        idle = finalize.counter_window(rows, *replay["idle"]["window_unix_ns"])[0]
        self.assertAlmostEqual(idle, replay["idle"]["power_w"], delta=1e-9 * idle)


class Finalize(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="magneton-finalize-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def bundle_dir(self, with_replay=True):
        bundle.write_json(os.path.join(self.tmp, bundle.MEASURE), {
            "baseline": {"iterations": 10, "wall_s": 1.0, "iter_s": 0.1, "energy_counter_j": None,
                         "iter_energy_counter_j": None, "window_unix_ns": [2_000_000_000, 3_000_000_000]},
            "energy_pass": {"iterations": 3, "wall_s": 0.6, "iter_s": 0.2, "sync_begin_unix_ns": [4_000_000_000, 4_001_000_000],
                            "sync_end_unix_ns": [4_601_000_000, 4_602_000_000]}})
        if with_replay:
            bundle.write_json(os.path.join(self.tmp, bundle.REPLAY), {
                "idle": {"window_unix_ns": [5_000_000_000, 5_500_000_000]},
                "items": [{"kind": "op", "id": 0, "node": 0, "window_unix_ns": [6_000_000_000, 6_600_000_000],
                           "launches": 100, "gpu_s": 0.6, "calls": 1000, "call_us": 600.0},
                          {"kind": "op", "id": 1, "node": 1, "error": "RuntimeError('x')"}],
                "repeats": [{"kind": "op", "id": 0, "node": 0, "window_unix_ns": [7_000_000_000, 7_600_000_000],
                             "launches": 100, "gpu_s": 0.6, "calls": 1000, "call_us": 600.0, "repeat_of": 0}]})
        samples = os.path.join(self.tmp, "samples.csv")
        finalize.write_samples(samples, rows_every(4_000_000, 100_000_000, 250.0, end=9_000_000_000))
        return samples

    def test_fills_energies_and_slices_the_samples(self):
        samples = self.bundle_dir()
        finalize.finalize(self.tmp, samples)
        self.assertFalse(os.path.exists(samples))
        m = bundle.read_json(os.path.join(self.tmp, bundle.MEASURE))
        self.assertAlmostEqual(m["baseline"]["energy_counter_j"], 250.0, places=6)
        self.assertAlmostEqual(m["baseline"]["iter_energy_counter_j"], 25.0, places=6)
        self.assertAlmostEqual(m["nvml"]["update_period_ms"], 100.0, places=6)
        r = bundle.read_json(os.path.join(self.tmp, bundle.REPLAY))
        self.assertAlmostEqual(r["items"][0]["power_w"], 250.0, places=6)
        self.assertAlmostEqual(r["items"][0]["call_energy_mj"], 250.0 * 0.6 / 1000 * 1e3, places=6)
        self.assertNotIn("power_w", r["items"][1])
        self.assertAlmostEqual(r["repeats"][0]["power_w"], 250.0, places=6)
        self.assertAlmostEqual(r["idle"]["power_w"], 250.0, places=6)
        power = finalize.read_samples(os.path.join(self.tmp, bundle.POWER))
        self.assertGreaterEqual(power[0][0], 3_000_000_000)
        self.assertLessEqual(power[-1][0], 5_602_000_000)
        base = finalize.read_samples(os.path.join(self.tmp, bundle.BASELINE_POWER))
        self.assertLessEqual(base[0][0], 2_000_000_000)
        counter = finalize.read_samples(os.path.join(self.tmp, bundle.REPLAY_COUNTER))
        self.assertLessEqual(counter[0][0], 5_000_000_000)
        self.assertGreaterEqual(counter[-1][0], 7_600_000_000)
        with open(os.path.join(self.tmp, bundle.POWER)) as f:
            self.assertEqual(next(csv.reader(f)), bundle.CSV_HEADER.split(","))

    def test_samples_that_miss_the_baseline_are_an_error(self):
        samples = self.bundle_dir(with_replay=False)
        finalize.write_samples(samples, rows_every(4_000_000, 100_000_000, 250.0, start=8_000_000_000,
                                                   end=9_000_000_000))
        with self.assertRaises(finalize.FinalizeError):
            finalize.finalize(self.tmp, samples)

    def test_a_bad_header_is_refused(self):
        path = os.path.join(self.tmp, "bad.csv")
        with open(path, "w") as f:
            f.write("t,p\n1,2\n")
        with self.assertRaises(finalize.FinalizeError):
            finalize.read_samples(path)


if __name__ == "__main__":
    unittest.main()
