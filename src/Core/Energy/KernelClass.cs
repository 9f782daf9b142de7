using Magneton.Core.Bundles;
using Magneton.Core.Runs;

namespace Magneton.Core.Energy;

/// <summary>What kind of GPU work an operator's dominant kernel does: it sets how hard the chip is driven.</summary>
public enum KernelClass { None, Matmul, Attention, Convolution, Reduction, Elementwise, Layout, Memory, Other }

public static class KernelClasses
{
    /// <summary>The class of the kernel with the most GPU time (memset/memcpy only where nothing else ran).</summary>
    public static KernelClass Of(Operator op) => Dominant(op) is { } k ? Of(k.Name, k.Category) : KernelClass.None;

    /// <summary>The dominant kernel's name, for the prior's nearest neighbours.</summary>
    public static string DominantKernel(Operator op) => Dominant(op)?.Name ?? "";

    /// <summary>Class and dominant kernel of every operator, each distinct kernel name classified once.</summary>
    public static (KernelClass[] Class, string[] Kernel) OfAll(Run run)
    {
        var classes = new KernelClass[run.Operators.Length];
        var kernels = new string[run.Operators.Length];
        var byName = new Dictionary<string, KernelClass>(StringComparer.Ordinal);
        foreach (var op in run.Operators)
        {
            if (Dominant(op) is not { } k) { kernels[op.Index] = ""; continue; }
            if (!byName.TryGetValue(k.Name, out var c)) byName[k.Name] = c = Of(k.Name, k.Category);
            classes[op.Index] = c;
            kernels[op.Index] = k.Name;
        }
        return (classes, kernels);
    }

    static KernelCount? Dominant(Operator op)
    {
        KernelCount? best = null;
        foreach (var k in op.Kernels)
            if (best is null || Rank(k).CompareTo(Rank(best)) > 0) best = k;
        return best;

        static (bool, double) Rank(KernelCount k) => (!IsMemory(k.Name, k.Category), k.Seconds);
    }

    public static KernelClass Of(string name, string category)
    {
        if (IsMemory(name, category)) return KernelClass.Memory;
        var n = name.AsSpan();
        if (Has(n, "fmha") || Has(n, "flash") || Has(n, "sdpa") || Has(n, "attn") || Has(n, "attention")) return KernelClass.Attention;
        if (Has(n, "nchwToNhwc") || Has(n, "nhwcToNchw") || Has(n, "transpose") || Has(n, "permute")) return KernelClass.Layout;
        if (Has(n, "conv") || Has(n, "fprop") || Has(n, "dgrad") || Has(n, "wgrad")) return KernelClass.Convolution;
        if (Has(n, "gemm") || Has(n, "nvjet") || Has(n, "xmma") || Has(n, "cutlass") || Has(n, "cublas") || Has(n, "matmul")) return KernelClass.Matmul;
        if (Has(n, "reduce") || Has(n, "norm") || Has(n, "softmax") || Has(n, "welford") || Has(n, "scan")) return KernelClass.Reduction;
        if (Has(n, "elementwise") || Has(n, "vectorized") || Has(n, "CatArray") || Has(n, "copy") || Has(n, "fill") || Has(n, "index"))
            return KernelClass.Elementwise;
        return KernelClass.Other;
    }

    static bool IsMemory(string name, string category) =>
        category is "gpu_memset" or "gpu_memcpy" || name.StartsWith("Memset", StringComparison.Ordinal) || name.StartsWith("Memcpy", StringComparison.Ordinal);

    static bool Has(ReadOnlySpan<char> s, string part) => s.Contains(part, StringComparison.OrdinalIgnoreCase);
}
