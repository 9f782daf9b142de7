"""Value fingerprints of format "magneton-capture/1" (dataflow.json ``values{id}``).

The analysis matches tensors of two systems by these numbers, never by names, so they must be computed exactly
as the reference captures of samples/ did (their capture script's ``tensor_stats``):

- every value: ``shape``, ``dtype`` (``torch.`` stripped), ``stride``, ``numel``, ``device`` (type);
- floating point (complex: of the magnitude): ``stats`` = mean, std (population, correction 0), min, max,
  absmean, l2, computed in float64 over the finite elements; ``deciles``: the 9 values at sorted positions
  ``round((m - 1) * q / 10)``, q = 1..9 (Python's round), of the finite elements cast to float32, when there are
  at most 16M of them; ``nonfinite``: the count of NaN/inf elements; and for rank 2..4 with numel <= 4M (while
  the spectra budget lasts, and only when every element is finite) ``spectra``: the top-8 singular values of every
  unfolding whose row dimensions contain dimension 0 but not all dimensions, keyed ``"<row dims>|<col dims>"``
  (e.g. ``"01|2"``). The budget is a number of tensor elements (:class:`SpectraBudget`, default 2^26 in all on a
  GPU, 2^22 on the CPU),
  spent in the order values are met, so two captures of one job fingerprint the same values (a wall-clock
  budget did not: spectra up to node 63 in one capture, node 20 in the other);
- integer and bool: ``istats`` = sum, min, max, nonzero (ints) and sumsq (float).

Non-finite statistics are written as null. Two implementations compute the same numbers: pure functions over a
flat list of floats in row-major order (no dependencies: tested with ``python3 -m unittest`` and used by the
synthetic capture) and :func:`tensor_fingerprint` over a torch tensor on its own device (torch is imported only
when called). ``python -m magneton_probe selftest`` checks that the two agree on the GPU.
"""
import math
import struct

STAT_KEYS = ("mean", "std", "min", "max", "absmean", "l2")
ISTAT_KEYS = ("sum", "min", "max", "nonzero", "sumsq")
META_KEYS = ("shape", "dtype", "stride", "numel", "device")
DECILE_MAX_NUMEL = 16_000_000
SPECTRA_MAX_NUMEL = 1 << 22
SPECTRA_TOP = 8
SPECTRA_BUDGET_ELEMENTS = 1 << 26
# On the CPU an SVD costs ~100x more: the default budget there is 16x smaller (ResNet-18's weights alone took 21 s).
SPECTRA_BUDGET_ELEMENTS_CPU = 1 << 22
FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2",
                "float8_e4m3fnuz", "float8_e5m2fnuz", "complex64", "complex128", "complex32")


def jnum(x):
    """A finite number as float, anything else (NaN, inf, None) as None: JSON has no NaN."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def contiguous_stride(shape):
    stride, acc = [], 1
    for n in reversed(list(shape)):
        stride.append(acc)
        acc *= max(int(n), 1)
    return list(reversed(stride))


def numel_of(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


class SpectraBudget:
    """How many more tensor elements may get spectra; spent deterministically, in the order values are met."""

    def __init__(self, elements=SPECTRA_BUDGET_ELEMENTS):
        self.left = elements

    def take(self, numel):
        if numel > self.left:
            self.left = 0  # once one value is refused, every later one is too: a prefix, not a knapsack
            return False
        self.left -= numel
        return True


def is_float_dtype(dtype):
    return dtype in FLOAT_DTYPES or dtype.startswith("float") or dtype.startswith("complex")


def meta(shape, dtype, stride=None, device="cpu"):
    shape = [int(d) for d in shape]
    return {"shape": shape, "dtype": dtype, "stride": list(stride) if stride is not None else contiguous_stride(shape),
            "numel": numel_of(shape), "device": device}


def to_float32(x):
    """Round a float to the nearest float32, as ``tensor.to(torch.float32)`` does (overflow gives inf)."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def float_stats(values):
    """(stats or None, nonfinite count, finite values) of a flat sequence of floats, in float64."""
    finite = [float(v) for v in values if math.isfinite(v)]
    nonfinite = len(values) - len(finite)
    if not finite:
        return None, nonfinite, finite
    n = len(finite)
    mean = math.fsum(finite) / n
    var = math.fsum((v - mean) ** 2 for v in finite) / n
    l2 = math.sqrt(math.fsum(v * v for v in finite))
    stats = {"mean": mean, "std": math.sqrt(var), "min": min(finite), "max": max(finite),
             "absmean": math.fsum(abs(v) for v in finite) / n, "l2": l2}
    return {k: jnum(stats[k]) for k in STAT_KEYS}, nonfinite, finite


def decile_positions(m):
    return [round((m - 1) * q / 10) for q in range(1, 10)]


def deciles(finite):
    """The 9 deciles of finite float64 values as the capture takes them: float32 sort, positions round((m-1)q/10)."""
    s = sorted(to_float32(v) for v in finite)
    return [jnum(s[i]) for i in decile_positions(len(s))]


def unfoldings(rank):
    """(rows, cols) dimension lists of the unfoldings fingerprinted for a tensor of this rank, in the capture's order."""
    out = []
    dims = list(range(rank))
    for mask in range(1, 1 << rank):
        rows = [i for i in dims if mask >> i & 1]
        if 0 not in rows or len(rows) == rank:
            continue
        out.append((rows, [i for i in dims if not mask >> i & 1]))
    return out


def unfolding_key(rows, cols):
    return "".join(map(str, rows)) + "|" + "".join(map(str, cols))


def unfold(values, shape, rows, cols):
    """The matrix of a row-major flat tensor permuted to (rows + cols) and reshaped to (prod rows, prod cols)."""
    stride = contiguous_stride(shape)
    order = rows + cols
    pshape = [shape[i] for i in order]
    pstride = [stride[i] for i in order]
    nrows = numel_of([shape[i] for i in rows])
    ncols = numel_of([shape[i] for i in cols])
    flat = []
    index = [0] * len(order)
    total = numel_of(pshape)
    for _ in range(total):
        flat.append(values[sum(i * s for i, s in zip(index, pstride))])
        k = len(index) - 1
        while k >= 0:
            index[k] += 1
            if index[k] < pshape[k]:
                break
            index[k] = 0
            k -= 1
    return [flat[r * ncols:(r + 1) * ncols] for r in range(nrows)]


def singular_values(matrix, tol=1e-15, max_sweeps=60):
    """All singular values of a small dense matrix, descending (one-sided Jacobi; accurate to a few ulps)."""
    m = len(matrix)
    n = len(matrix[0]) if m else 0
    if m == 0 or n == 0:
        return []
    # Orthogonalise the columns of whichever orientation has fewer of them.
    if n <= m:
        cols = [[float(matrix[r][c]) for r in range(m)] for c in range(n)]
    else:
        cols = [[float(x) for x in row] for row in matrix]
    k = len(cols)
    for _ in range(max_sweeps):
        rotated = False
        for i in range(k - 1):
            ci = cols[i]
            for j in range(i + 1, k):
                cj = cols[j]
                alpha = math.fsum(x * x for x in ci)
                beta = math.fsum(x * x for x in cj)
                gamma = math.fsum(x * y for x, y in zip(ci, cj))
                if gamma == 0 or abs(gamma) <= tol * math.sqrt(alpha * beta):
                    continue
                rotated = True
                zeta = (beta - alpha) / (2 * gamma)
                t = math.copysign(1.0, zeta) / (abs(zeta) + math.sqrt(1 + zeta * zeta))
                c = 1 / math.sqrt(1 + t * t)
                s = c * t
                for r in range(len(ci)):
                    a, b = ci[r], cj[r]
                    ci[r] = c * a - s * b
                    cj[r] = s * a + c * b
        if not rotated:
            break
    return sorted((math.sqrt(math.fsum(x * x for x in col)) for col in cols), reverse=True)


def spectra(values, shape, top=SPECTRA_TOP):
    """Top singular values of every fingerprinted unfolding of a row-major flat float tensor (rank 2..4)."""
    shape = [int(d) for d in shape]
    out = {}
    for rows, cols in unfoldings(len(shape)):
        mat = unfold(values, shape, rows, cols)
        if not mat or not mat[0]:
            continue
        sv = singular_values([[to_float32(x) for x in row] for row in mat])[:top]
        out[unfolding_key(rows, cols)] = [jnum(to_float32(v)) for v in sv]
    return out


def int_stats(values):
    ints = [int(v) for v in values]
    return {"sum": sum(ints), "min": min(ints), "max": max(ints), "nonzero": sum(1 for v in ints if v != 0),
            "sumsq": float(math.fsum(float(v) * float(v) for v in ints))}


def fingerprint(values, shape, dtype, stride=None, device="cpu", with_spectra=True):
    """The value record of a tensor given as a flat row-major list (complex values: give their magnitudes)."""
    d = meta(shape, dtype, stride, device)
    n = d["numel"]
    if n == 0:
        return d
    if len(values) != n:
        raise ValueError("%d values for shape %s" % (len(values), list(shape)))
    if is_float_dtype(dtype):
        stats, nonfinite, finite = float_stats(values)
        if stats is not None:
            d["stats"] = stats
            if len(finite) <= DECILE_MAX_NUMEL:
                d["deciles"] = deciles(finite)
        d["nonfinite"] = nonfinite
        if with_spectra and nonfinite == 0 and 2 <= len(d["shape"]) <= 4 and n <= SPECTRA_MAX_NUMEL:
            d["spectra"] = spectra(values, d["shape"])
    else:
        d["istats"] = int_stats(values)
    return d


# ---------------------------------------------------------------------------------------------- torch path
def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def tensor_meta(t):
    return {"shape": list(t.shape), "dtype": dtype_name(t.dtype), "stride": list(t.stride()), "numel": t.numel(),
            "device": t.device.type}


def tensor_fingerprint(t, spectra_budget=None):
    """The value record of a torch tensor, computed on its device (one host sync for the stats).

    ``spectra_budget``: a :class:`SpectraBudget` shared by the values of one capture; None: no limit.
    """
    import torch

    d = tensor_meta(t)
    n = t.numel()
    if n == 0:
        return d
    x = t.detach()
    if x.is_complex():
        x = x.abs()
    if x.is_floating_point():
        xf = x.reshape(-1).to(torch.float64)
        fin = torch.isfinite(xf)
        nonfinite = int((~fin).sum().item())
        if nonfinite:
            xf = xf[fin]
        if xf.numel():
            v = torch.stack([xf.mean(), xf.std(correction=0), xf.min(), xf.max(), xf.abs().mean(), xf.norm()]).tolist()
            d["stats"] = dict(zip(STAT_KEYS, [jnum(a) for a in v]))
            if xf.numel() <= DECILE_MAX_NUMEL:
                d["deciles"] = [jnum(a) for a in torch_deciles(torch, xf.to(torch.float32))]
        d["nonfinite"] = nonfinite
        r = t.dim()
        if (nonfinite == 0 and 2 <= r <= 4 and n <= SPECTRA_MAX_NUMEL
                and (spectra_budget is None or spectra_budget.take(n))):
            xs = x.to(torch.float32).reshape(t.shape)
            spec = {}
            for rows, cols in unfoldings(r):
                mrows = 1
                for i in rows:
                    mrows *= t.shape[i]
                mat = xs.permute(rows + cols).reshape(mrows, -1)
                if min(mat.shape) == 0:
                    continue
                spec[unfolding_key(rows, cols)] = torch.linalg.svdvals(mat)[:SPECTRA_TOP]
            d["spectra"] = {k: [jnum(a) for a in v.tolist()] for k, v in spec.items()}
    else:
        xi = x.reshape(-1).to(torch.int64)
        v = torch.stack([xi.sum(), xi.min(), xi.max(), (xi != 0).sum()]).tolist()
        sq = float((xi.to(torch.float64) ** 2).sum().item())
        d["istats"] = {"sum": v[0], "min": v[1], "max": v[2], "nonzero": v[3], "sumsq": sq}
    return d


def torch_deciles(torch, x32):
    """The values at sorted positions ``decile_positions(m)`` of a flat float32 tensor: on the GPU one sort; on the
    CPU a selection per position (``kthvalue``, O(m) each: a full sort was ~75% of a CPU capture). Same values."""
    pos = decile_positions(x32.numel())
    if x32.device.type == "cpu":
        return [x32.kthvalue(p + 1).values.item() for p in pos]
    s = torch.sort(x32).values
    return s[torch.tensor(pos, device=s.device)].tolist()
