"""Paths for the tests: the probe on sys.path, the repository root and its real H100 samples."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.dirname(HERE)
if PROBE not in sys.path:
    sys.path.insert(0, PROBE)


def repo_root():
    d = HERE
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "Magneton.sln")):
            return d
        d = os.path.dirname(d)
    return None


ROOT = repo_root()
SAMPLES = os.path.join(ROOT, "samples") if ROOT else None


def sample(relative):
    """A real bundle directory under samples/, or None where the checkout has none."""
    if SAMPLES is None:
        return None
    path = os.path.join(SAMPLES, relative)
    return path if os.path.isdir(path) else None


GPT2_A = "gpt2-gelu/A-hf-gpt2-gelu_new"
GPT2_B = "gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh"
LLAMA_A = "llama-generate-null/A-hf-llama-gqa-sdpa-run1"
