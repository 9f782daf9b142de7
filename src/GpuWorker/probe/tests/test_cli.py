"""The command line, as a child process: exit codes and messages of everything that needs no GPU."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import _support


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="magneton-cli-")
        # A torch that cannot be imported, so no test here ever starts a real capture (also where torch exists).
        os.makedirs(os.path.join(self.tmp, "fake", "torch"))
        with open(os.path.join(self.tmp, "fake", "torch", "__init__.py"), "w") as f:
            f.write("raise ImportError('hidden by the test')\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def script(self, name, body):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(body))
        return path

    def run_probe(self, *args, module="magneton_probe"):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(self.tmp, "fake"), _support.PROBE]),
                   PYTHONDONTWRITEBYTECODE="1")
        env.pop("MAGNETON_SAMPLER", None)
        p = subprocess.run([sys.executable, "-m", module] + list(args), capture_output=True, text=True, env=env,
                           cwd=self.tmp, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def test_usage(self):
        rc, out, _ = self.run_probe()
        self.assertEqual(rc, 2)
        self.assertIn("--out DIR --system NAME", out)
        self.assertEqual(self.run_probe("--help")[0], 0)

    def test_bad_command_lines(self):
        out = os.path.join(self.tmp, "o")
        rc, _, err = self.run_probe("--out", out, "--system", "s", "x.py")
        self.assertEqual(rc, 2)
        self.assertIn("no script", err)
        rc, _, err = self.run_probe("--out", out, "--system", "s", "--", "missing.py")
        self.assertEqual((rc, "missing.py: no such script" in err), (2, True))
        rc, _, err = self.run_probe("--system", "s", "--", "missing.py")
        self.assertEqual(rc, 2)
        rc, _, err = self.run_probe("--out", out, "--system", "s", "--replay-seconds", "0.2", "--", "x.py")
        self.assertIn("at least 0.5", err)

    def test_a_script_that_never_declares_its_workload(self):
        s = self.script("plain.py", "import sys\nprint('ran', sys.argv[1:])\n")
        rc, out, err = self.run_probe("--out", os.path.join(self.tmp, "o"), "--system", "s", "--", "python3", s, "a", "b")
        self.assertEqual(rc, 2)
        self.assertIn("ran ['a', 'b']", out)
        self.assertIn("never called magneton_probe.workload", err)

    def test_a_script_that_exits_first(self):
        s = self.script("exits.py", "raise SystemExit(3)\n")
        rc, _, err = self.run_probe("--out", os.path.join(self.tmp, "o"), "--system", "s", "--", s)
        self.assertEqual(rc, 3)
        self.assertIn("exited with code 3", err)

    def test_a_script_that_raises(self):
        s = self.script("raises.py", "raise ValueError('boom')\n")
        rc, _, err = self.run_probe("--out", os.path.join(self.tmp, "o"), "--system", "s", "--", s)
        self.assertEqual(rc, 1)
        self.assertIn("ValueError: boom", err)

    def test_workload_without_torch_is_refused_with_a_reason(self):
        s = self.script("job.py", """
            import magneton_probe
            magneton_probe.workload(lambda: 1, config={"k": 1})
        """)
        rc, _, err = self.run_probe("--out", os.path.join(self.tmp, "o"), "--system", "s", "--", s)
        self.assertEqual(rc, 2)
        self.assertIn("PyTorch is not importable", err)

    def test_module_form(self):
        self.script("jobmod.py", "import magneton_probe\nprint('under probe', magneton_probe.under_probe())\n")
        rc, out, err = self.run_probe("--out", os.path.join(self.tmp, "o"), "--system", "s", "--", "-m", "jobmod")
        self.assertEqual(rc, 2)
        self.assertIn("under probe True", out)

    def test_workload_outside_the_probe_runs_the_step_once(self):
        s = self.script("standalone.py", """
            import magneton_probe
            calls = []
            r = magneton_probe.workload(lambda: calls.append(1) or 42)
            print("result", r, len(calls), magneton_probe.under_probe())
        """)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(self.tmp, "fake"), _support.PROBE]))
        p = subprocess.run([sys.executable, s], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("result 42 1 False", p.stdout)

    def test_synthetic_then_finalize_errors(self):
        out = os.path.join(self.tmp, "syn")
        rc, stdout, err = self.run_probe("synthetic", out, "--activation", "gelu_pytorch_tanh")
        self.assertEqual(rc, 0, err)
        self.assertIn("operators", stdout)
        self.assertEqual(sorted(os.listdir(out)), sorted(["baseline_power.csv", "context.json", "dataflow.json",
                                                          "kineto.json.gz", "measure.json", "power.csv",
                                                          "replay.json", "replay_counter.csv"]))
        bad = os.path.join(self.tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\n")
        rc, _, err = self.run_probe("finalize", "--out", out, "--samples", bad)
        self.assertEqual(rc, 2)
        self.assertIn("no samples", err)
        rc, _, err = self.run_probe("finalize", "--out", out)
        self.assertEqual(rc, 2)

    def test_nvml_sampler_without_a_driver(self):
        from magneton_probe import nvml
        try:
            nvml.Nvml().close()
            self.skipTest("an NVIDIA driver is present")
        except nvml.NvmlUnavailable as ex:
            self.assertIn("no NVIDIA driver", str(ex))
        rc, _, err = self.run_probe("devices", module="magneton_probe.nvml")
        self.assertEqual(rc, 2)
        self.assertIn("no NVIDIA driver", err)
        self.assertEqual(self.run_probe(module="magneton_probe.nvml")[0], 2)

    def test_nvml_bits(self):
        from magneton_probe import nvml
        with self.assertRaises(nvml.NvmlUnavailable):
            nvml.Nvml("libdoes-not-exist.so.1")
        old = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            os.environ["CUDA_VISIBLE_DEVICES"] = "3,1"
            self.assertEqual(nvml.default_index(), 3)
            os.environ["CUDA_VISIBLE_DEVICES"] = "GPU-1234"
            self.assertEqual(nvml.default_index(), 0)
        finally:
            if old is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = old


if __name__ == "__main__":
    unittest.main()
