"""``python -m magneton_probe selftest``: the torch fingerprints agree with the pure-Python definitions.

Random tensors of every float dtype this torch has (complex: of the magnitude), several shapes and strides, and
integer/bool tensors (on the GPU when there is one, or ``--device cpu|cuda``) are fingerprinted both ways: stats
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


FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                "float8_e5m2fnuz", "complex128", "complex64", "complex32")


def cases(torch, g):
    """(name, tensor or None when this torch lacks the dtype) for every float dtype, plus integer and edge cases."""
    out = []
    for name in FLOAT_DTYPES:
        dtype = getattr(torch, name, None)
        if dtype is None:
            out.append((name, None))
            continue
        if dtype.is_complex:
            base = torch.complex(torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g))
        else:
            base = torch.randn(3, 4, 5, generator=g)
        out.append((name + " 3x4x5", base.to(dtype)))
        out.append((name + " permuted", torch.randn(4, 7, generator=g).to(dtype).t()))
        out.append((name + " vector", torch.randn(101, generator=g).to(dtype)))
    out += [
        ("float16 2x3x2x4", torch.randn(2, 3, 2, 4, generator=g).to(torch.float16)),
        ("float32 with inf", torch.tensor([[1.0, float("inf")], [2.0, -3.0]])),
        ("int64", torch.randint(-50, 50, (5, 6), generator=g)),
        ("bool", torch.randn(9, generator=g) > 0),
    ]
    return out


def main(argv=()):
    argv = list(argv)
    try:
        import torch
    except ImportError:
        print("magneton-probe selftest: PyTorch is not importable", file=sys.stderr)
        return 2
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: F401
    import torch.profiler  # noqa: F401

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if "--device" in argv:
        i = argv.index("--device")
        dev = argv[i + 1] if i + 1 < len(argv) else ""
        if dev not in ("cuda", "cpu"):
            print("magneton-probe selftest: --device needs cuda or cpu", file=sys.stderr)
            return 2
        if dev == "cuda" and not torch.cuda.is_available():
            print("magneton-probe selftest: no CUDA device is visible to PyTorch", file=sys.stderr)
            return 2
    g = torch.Generator().manual_seed(0)
    failed = 0
    for name, t in cases(torch, g):
        if t is None:
            print("%-24s skipped: this torch has no such dtype" % name)
            continue
        try:
            t = t.to(dev)
            rec = fp.tensor_fingerprint(t)
            x = t.detach().reshape(-1).to("cpu")
            if x.is_complex():
                x = x.abs()
            values = [float(v) for v in x.to(torch.float64).tolist()] if x.is_floating_point() \
                else [int(v) for v in x.to(torch.int64).tolist()]
            dtype = fp.dtype_name(t.dtype)
            # The pure functions take row-major values; a permuted tensor's stride is metadata only.
            pure = fp.fingerprint(values, list(t.shape), dtype, stride=list(t.stride()), device=t.device.type)
            problems = compare(rec, pure)
        except Exception as ex:  # a dtype the fingerprint cannot handle would fail a capture: a failure here too
            problems = ["raised %s: %s" % (type(ex).__name__, " ".join(str(ex).split())[:200])]
        print("%-24s %s" % (name, "ok" if not problems else "FAIL: " + "; ".join(problems)))
        failed += bool(problems)
    nan = float("nan")
    assert fp.jnum(nan) is None and fp.jnum(math.inf) is None
    print("selftest on %s (torch %s): %s" % (dev, torch.__version__, "OK" if not failed else "%d FAILED" % failed))
    return 0 if not failed else 1
