"""A standalone NVML sampler over ctypes (no pynvml), for running the probe without the .NET worker.

Under ``magneton capture`` the worker samples NVML itself and sets ``MAGNETON_SAMPLER=external``; the probe then
starts nothing. Standalone, the probe runs this module in a separate process (a sampler thread in the ML process
would hold the GIL between NVML calls and slow a host-bound job down):

    python -m magneton_probe.nvml sample OUT.csv STOPFILE [device_index]

polls the energy counter (``nvmlDeviceGetTotalEnergyConsumption``), the instantaneous power field
(``NVML_FI_DEV_POWER_INSTANT``) and ``nvmlDeviceGetPowerUsage`` (a 1 s average on an H100) as fast as NVML allows
until STOPFILE appears, then writes ``t_unix_ns,power_instant_mw,power_avg_mw,energy_mj`` (-1 where not read).
``python -m magneton_probe.nvml devices`` prints the devices as JSON.
"""
import ctypes
import json
import os
import sys
import time

LIBRARY = "libnvidia-ml.so.1"
FI_DEV_POWER_INSTANT = 186
NVML_SUCCESS = 0


class NvmlUnavailable(Exception):
    pass


class _FieldValue(ctypes.Structure):
    # nvmlFieldValue_t: fieldId, scopeId, timestamp, latencyUsec, valueType, nvmlReturn, value (8-byte union)
    _fields_ = [("fieldId", ctypes.c_uint), ("scopeId", ctypes.c_uint), ("timestamp", ctypes.c_longlong),
                ("latencyUsec", ctypes.c_longlong), ("valueType", ctypes.c_int), ("nvmlReturn", ctypes.c_int),
                ("value", ctypes.c_ulonglong)]


class Nvml:
    def __init__(self, library=LIBRARY):
        try:
            self.lib = ctypes.CDLL(library)
        except OSError as ex:
            raise NvmlUnavailable("no NVIDIA driver/NVML found (%s could not be loaded: %s)" % (library, ex))
        init = getattr(self.lib, "nvmlInit_v2", None) or self.lib.nvmlInit
        rc = init()
        if rc != NVML_SUCCESS:
            raise NvmlUnavailable("NVML did not initialise (nvmlInit returned %d)" % rc)

    def close(self):
        try:
            self.lib.nvmlShutdown()
        except Exception:
            pass

    def count(self):
        n = ctypes.c_uint()
        f = getattr(self.lib, "nvmlDeviceGetCount_v2", None) or self.lib.nvmlDeviceGetCount
        return n.value if f(ctypes.byref(n)) == NVML_SUCCESS else 0

    def handle(self, index):
        h = ctypes.c_void_p()
        f = getattr(self.lib, "nvmlDeviceGetHandleByIndex_v2", None) or self.lib.nvmlDeviceGetHandleByIndex
        rc = f(ctypes.c_uint(index), ctypes.byref(h))
        if rc != NVML_SUCCESS:
            raise NvmlUnavailable("no GPU %d (nvmlDeviceGetHandleByIndex returned %d)" % (index, rc))
        return h

    def energy_mj(self, h):
        v = ctypes.c_ulonglong()
        return v.value if self.lib.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(v)) == NVML_SUCCESS else -1

    def power_avg_mw(self, h):
        v = ctypes.c_uint()
        return v.value if self.lib.nvmlDeviceGetPowerUsage(h, ctypes.byref(v)) == NVML_SUCCESS else -1

    def power_instant_mw(self, h):
        fv = _FieldValue()
        fv.fieldId = FI_DEV_POWER_INSTANT
        try:
            rc = self.lib.nvmlDeviceGetFieldValues(h, ctypes.c_int(1), ctypes.byref(fv))
        except AttributeError:
            return -1
        if rc != NVML_SUCCESS or fv.nvmlReturn != NVML_SUCCESS:
            return -1
        return fv.value & 0xFFFFFFFF

    def _string(self, fn, h, size=96):
        buf = ctypes.create_string_buffer(size)
        return buf.value.decode() if fn(h, buf, ctypes.c_uint(size)) == NVML_SUCCESS else None

    def describe(self, index):
        h = self.handle(index)
        limit = ctypes.c_uint()
        lim = limit.value if self.lib.nvmlDeviceGetEnforcedPowerLimit(h, ctypes.byref(limit)) == NVML_SUCCESS else -1
        driver = ctypes.create_string_buffer(96)
        self.lib.nvmlSystemGetDriverVersion(driver, ctypes.c_uint(96))
        return {"index": index, "name": self._string(self.lib.nvmlDeviceGetName, h),
                "uuid": self._string(self.lib.nvmlDeviceGetUUID, h), "driver": driver.value.decode(),
                "power_limit_mw": lim, "energy_mj": self.energy_mj(h), "power_avg_mw": self.power_avg_mw(h),
                "power_instant_mw": self.power_instant_mw(h)}


def default_index():
    """The NVML index of the first visible CUDA device when CUDA_VISIBLE_DEVICES names it by number."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(first) if first.isdigit() else 0


def sample(out, stop, index=0, energy_only=False):
    nv = Nvml()
    h = nv.handle(index)
    use_inst = not energy_only and nv.power_instant_mw(h) >= 0
    rows = []
    open(stop + ".ready", "w").close()
    check = 0
    while True:
        t = time.time_ns()
        e = nv.energy_mj(h)
        pi = nv.power_instant_mw(h) if use_inst else -1
        pa = -1 if energy_only else nv.power_avg_mw(h)
        rows.append((t, pi, pa, e))
        check += 1
        if check % 25 == 0 and os.path.exists(stop):
            break
    with open(out + ".tmp", "w") as f:
        f.write("t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\n")
        for r in rows:
            f.write("%d,%d,%d,%d\n" % r)
    os.replace(out + ".tmp", out)
    nv.close()


class SamplerProcess:
    """Starts ``sample`` in a child process and stops it (context manager)."""

    def __init__(self, out, index=None, python=None):
        self.out = out
        self.stop = out + ".stop"
        self.index = default_index() if index is None else index
        self.python = python or sys.executable
        self.proc = None

    def __enter__(self):
        import subprocess
        for p in (self.stop, self.stop + ".ready"):
            if os.path.exists(p):
                os.remove(p)
        env = dict(os.environ)
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen([self.python, "-m", "magneton_probe.nvml", "sample", self.out, self.stop,
                                      str(self.index)], env=env)
        t = time.time()
        while not os.path.exists(self.stop + ".ready"):
            if self.proc.poll() is not None:
                raise NvmlUnavailable("the NVML sampler exited with code %d before it started" % self.proc.returncode)
            if time.time() - t > 20:
                raise NvmlUnavailable("the NVML sampler did not start within 20 s")
            time.sleep(0.005)
        time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        time.sleep(0.05)
        open(self.stop, "w").close()
        try:
            self.proc.wait(timeout=60)
        finally:
            for p in (self.stop, self.stop + ".ready"):
                if os.path.exists(p):
                    os.remove(p)
        return False


def main(argv):
    if argv[:1] == ["sample"] and len(argv) >= 3:
        sample(argv[1], argv[2], int(argv[3]) if len(argv) > 3 else 0, len(argv) > 4 and argv[4] == "e")
        return 0
    if argv[:1] == ["devices"]:
        try:
            nv = Nvml()
        except NvmlUnavailable as ex:
            print("magneton-probe: error: %s" % ex, file=sys.stderr)
            return 2
        print(json.dumps([nv.describe(i) for i in range(nv.count())], indent=1))
        nv.close()
        return 0
    print("usage: python -m magneton_probe.nvml sample OUT.csv STOPFILE [index [e]] | devices", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
