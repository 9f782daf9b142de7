"""Where a capture runs: ``cuda`` (a GPU, sampled through NVML: every pass, energies) or ``cpu``.

A CPU capture runs the passes that mean something without a GPU: warm-up, the semantic pass (fingerprints on the
CPU), the uninstrumented baseline, the profiler pass with CPU activities only and the mg# alignment, and the
context. No CUDA synchronisation, events, graphs or sleeps, no NVML, no replay (replay measures power). Its
bundle says ``"device": "cpu"`` in measure.json, has a power.csv with the header only and null energies; the
analysis then reports matching, regions, causes and CPU time, and says that no GPU energy was measured.
"""
import platform

CUDA = "cuda"
CPU = "cpu"
KINDS = (CUDA, CPU)


def _no_sync():
    pass


class Device:
    """The synchronisation and naming of one capture device."""

    def __init__(self, torch, kind):
        if kind not in KINDS:
            raise ValueError("device must be one of %s, got %r" % (", ".join(KINDS), kind))
        self.kind = kind
        self.is_cuda = kind == CUDA
        self.sync = torch.cuda.synchronize if self.is_cuda else _no_sync
        self._torch = torch

    def name(self):
        if self.is_cuda:
            return self._torch.cuda.get_device_name(self._torch.cuda.current_device())
        return platform.processor() or platform.machine() or "cpu"


def default_kind(torch=None):
    """cuda where PyTorch sees a GPU, else cpu."""
    try:
        if torch is None:
            import torch
        return CUDA if torch.cuda.is_available() else CPU
    except ImportError:
        return CPU
