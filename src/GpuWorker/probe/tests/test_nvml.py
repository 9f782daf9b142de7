"""The ctypes NVML sampler against the project's NVML test double (tests/Magneton.Tests/GpuWorker/fake_nvml),
built with gcc where there is one: two fake H100s, 300 W and 150 W, counters moving every 100 ms."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import _support


def fake_source():
    if _support.ROOT is None:
        return None
    path = os.path.join(_support.ROOT, "tests", "Magneton.Tests", "GpuWorker", "fake_nvml", "fake_nvml.c")
    return path if os.path.exists(path) else None


class FakeNvml(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="magneton-fake-nvml-py-")
        cls.skip = None
        gcc = shutil.which("gcc")
        src = fake_source()
        if gcc is None or src is None or not sys.platform.startswith("linux"):
            cls.skip = "gcc or the NVML test double (fake_nvml.c) is not available"
            return
        p = subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", os.path.join(cls.tmp, "libnvidia-ml.so.1"), src],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            cls.skip = "fake_nvml.c did not build: " + p.stderr[-300:]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_py(self, code):
        if self.skip:
            self.skipTest(self.skip)
        env = dict(os.environ, LD_LIBRARY_PATH=self.tmp, PYTHONPATH=_support.PROBE, PYTHONDONTWRITEBYTECODE="1")
        env.pop("CUDA_VISIBLE_DEVICES", None)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=self.tmp,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_devices(self):
        out = self.run_py("from magneton_probe import nvml; import sys; sys.exit(nvml.main(['devices']))")
        devices = json.loads(out)
        self.assertEqual([d["name"] for d in devices], ["NVIDIA H100 80GB HBM3 (fake 0)", "NVIDIA H100 80GB HBM3 (fake 1)"])
        self.assertEqual(devices[0]["power_instant_mw"], 300500)  # through nvmlDeviceGetFieldValues
        self.assertEqual(devices[0]["power_avg_mw"], 300000)
        self.assertEqual(devices[1]["power_limit_mw"], 700000)

    def test_the_sampler_process_sees_the_counter_updates(self):
        out = self.run_py(textwrap_dedent("""
            import json, os, time
            from magneton_probe import finalize, nvml
            path = os.path.join(os.getcwd(), "s.csv")
            with nvml.SamplerProcess(path, index=1):
                time.sleep(0.8)
            rows = finalize.read_samples(path)
            print(json.dumps([len(rows), rows[0], finalize.counter_window(rows, rows[0][0], rows[-1][0])]))
        """))
        n, first, (power, energy, updates, period) = json.loads(out)
        self.assertGreater(n, 50)
        self.assertEqual(first[1:3], [150500, 150000])
        self.assertGreaterEqual(updates, 5)
        self.assertAlmostEqual(power, 150.0, delta=3.0)
        self.assertAlmostEqual(period, 100.0, delta=10.0)


def textwrap_dedent(s):
    import textwrap
    return textwrap.dedent(s)


if __name__ == "__main__":
    unittest.main()
