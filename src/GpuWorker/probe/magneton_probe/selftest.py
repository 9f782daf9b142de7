"""``python -m magneton_probe selftest``: the torch fingerprints agree with the pure-Python definitions.

Random tensors of several shapes and dtypes (on the GPU when there is one) are fingerprinted both ways: stats
within 1e-9 relative (float64 both ways), deciles exactly (the same float32 values sorted), spectra within 1e-4
relative (float32 SVD against a float64 Jacobi SVD of the same float32 values), integer stats exactly. Also checks
that the torch dispatch mode and profiler are importable. Exit code 0 when all agree.
"""
import math
import sys

from . import fingerprint as fp


def close(a, b, rel):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-30)


def compare(torch_rec, pure_rec):
    problems = []
    for k in fp.META_KEYS:
        if k != "device" and torch_rec.get(k) != pure_rec.get(k):
            problems.append("%s: %r vs %r" % (k, torch_rec.get(k), pure_rec.get(k)))
    if ("stats" in torch_rec) != ("stats" in pure_rec):
        problems.append("stats present on one side only")
    for k in fp.STAT_KEYS:
        if "stats" in torch_rec and not close(torch_rec["stats"][k], pure_rec["stats"][k], 1e-9):
            problems.append("stats.%s: %r vs %r" % (k, torch_rec["stats"][k], pure_rec["stats"][k]))
    if torch_rec.get("deciles") != pure_rec.get("deciles"):
        problems.append("deciles: %r vs %r" % (torch_rec.get("deciles"), pure_rec.get("deciles")))
    if torch_rec.get("nonfinite") != pure_rec.get("nonfinite"):
        problems.append("nonfinite differs")
    ts, ps = torch_rec.get("spectra"), pure_rec.get("spectra")
    if (ts is None) != (ps is None) or (ts and set(ts) != set(ps)):
        problems.append("spectra keys: %r vs %r" % (ts and sorted(ts), ps and sorted(ps)))
    elif ts:
        for key in ts:
            for a, b in zip(ts[key], ps[key]):
                if not close(a, b, 1e-4) and abs(a - b) > 1e-5 * max(ts[key][0], 1e-30):
                    problems.append("spectra %s: %r vs %r" % (key, ts[key], ps[key]))
                    break
    if torch_rec.get("istats") != pure_rec.get("istats"):
        problems.append("istats: %r vs %r" % (torch_rec.get("istats"), pure_rec.get("istats")))
    return problems


def main(argv=()):
    try:
        import torch
    except ImportError:
        print("magneton-probe selftest: PyTorch is not importable", file=sys.stderr)
        return 2
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: F401
    import torch.profiler  # noqa: F401

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator().manual_seed(0)
    cases = [
        ("float32", torch.randn(6, 5, generator=g)),
        ("bfloat16", torch.randn(3, 4, 5, generator=g).to(torch.bfloat16)),
        ("float16", torch.randn(2, 3, 2, 4, generator=g).to(torch.float16)),
        ("float32 with inf", torch.tensor([[1.0, float("inf")], [2.0, -3.0]])),
        ("float32 permuted", torch.randn(4, 7, generator=g).t()),
        ("int64", torch.randint(-50, 50, (5, 6), generator=g)),
        ("bool", torch.randn(9, generator=g) > 0),
        ("float64 vector", torch.randn(101, generator=g, dtype=torch.float64)),
    ]
    failed = 0
    for name, t in cases:
        t = t.to(dev)
        rec = fp.tensor_fingerprint(t)
        flat = t.detach().reshape(-1).to("cpu")
        values = [float(v) for v in flat.to(torch.float64).tolist()] if t.is_floating_point() \
            else [int(v) for v in flat.to(torch.int64).tolist()]
        dtype = fp.dtype_name(t.dtype)
        # The pure functions take row-major values; a permuted tensor's stride is metadata only.
        pure = fp.fingerprint(values, list(t.shape), dtype, stride=list(t.stride()), device=t.device.type)
        problems = compare(rec, pure)
        print("%-18s %s" % (name, "ok" if not problems else "FAIL: " + "; ".join(problems)))
        failed += bool(problems)
    nan = float("nan")
    assert fp.jnum(nan) is None and fp.jnum(math.inf) is None
    print("selftest on %s: %s" % (dev, "OK" if not failed else "%d FAILED" % failed))
    return 0 if not failed else 1
