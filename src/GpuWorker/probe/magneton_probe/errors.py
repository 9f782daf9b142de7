"""The probe's one exception type for captures that cannot be made as asked (exit code 2, one line)."""


class ProbeError(Exception):
    """No GPU, no NVML, a bad workload, a value that cannot be fingerprinted: exit code 2."""
