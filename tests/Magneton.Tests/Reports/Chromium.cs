using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using Xunit;

namespace Magneton.Tests.Reports;

/// <summary>Headless Chromium for the HTML report tests: Debian's <c>chromium</c> (or MAGNETON_CHROMIUM).</summary>
public static class Chromium
{
    public static string? Executable { get; } = Find();

    static string? Find()
    {
        if (Environment.GetEnvironmentVariable("MAGNETON_CHROMIUM") is { Length: > 0 } env && File.Exists(env)) return env;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome", "google-chrome-stable" })
            {
                var path = Path.Combine(dir, name);
                if (File.Exists(path)) return path;
            }
        return null;
    }

    /// <summary>Runs the browser headless on a local file with the given extra arguments; returns its stdout.</summary>
    public static async Task<string> RunAsync(string htmlFile, int width, int height, params string[] extra)
    {
        var profile = Path.Combine(Path.GetTempPath(), "magneton-chromium-" + Guid.NewGuid().ToString("N"));
        var psi = new ProcessStartInfo(Executable ?? throw new InvalidOperationException("chromium not found"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                     "--disable-extensions", "--user-data-dir=" + profile, $"--window-size={width},{height}" })
            psi.ArgumentList.Add(a);
        foreach (var a in extra) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(new Uri(Path.GetFullPath(htmlFile)).AbsoluteUri);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            try
            {
                await p.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"chromium did not finish within 90 s: {await stderr}");
            }
            if (p.ExitCode != 0) throw new InvalidOperationException($"chromium exited {p.ExitCode}: {await stderr}");
            return await stdout;
        }
        finally
        {
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

/// <summary>A fact that needs headless Chromium; skipped, with the reason, where none is installed.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Executable is null)
            Skip = "headless Chromium not found (chromium, chromium-browser or google-chrome on PATH, or MAGNETON_CHROMIUM): "
                + "install it with 'apt-get install chromium' to run the HTML screenshot test";
    }
}

/// <summary>A minimal PNG decoder (8-bit RGB/RGBA, non-interlaced: what Chromium writes), for checking screenshots.</summary>
public sealed class Png
{
    public int Width { get; }
    public int Height { get; }
    readonly byte[] _rgb; // 3 bytes per pixel

    Png(int width, int height, byte[] rgb) { Width = width; Height = height; _rgb = rgb; }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get { int i = (y * Width + x) * 3; return (_rgb[i], _rgb[i + 1], _rgb[i + 2]); }
    }

    public static Png Decode(byte[] file)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (!file.AsSpan(0, 8).SequenceEqual(signature)) throw new InvalidDataException("not a PNG");
        int pos = 8, width = 0, height = 0, colorType = 0;
        using var idat = new MemoryStream();
        while (pos + 8 <= file.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(file, pos + 4, 4);
            var data = file.AsSpan(pos + 8, len);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                if (data[8] != 8) throw new InvalidDataException($"bit depth {data[8]} not supported");
                colorType = data[9];
                if (colorType is not (2 or 6)) throw new InvalidDataException($"color type {colorType} not supported");
                if (data[12] != 0) throw new InvalidDataException("interlaced PNG not supported");
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            pos += 12 + len;
        }
        int bpp = colorType == 6 ? 4 : 3;
        int stride = width * bpp;
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new byte[(stride + 1) * height];
        z.ReadExactly(raw);

        var rgb = new byte[width * height * 3];
        var prev = new byte[stride];
        var cur = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            int rowStart = y * (stride + 1);
            byte filter = raw[rowStart];
            for (int i = 0; i < stride; i++)
            {
                int x = raw[rowStart + 1 + i];
                int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                cur[i] = (byte)(filter switch
                {
                    0 => x,
                    1 => x + a,
                    2 => x + b,
                    3 => x + (a + b) / 2,
                    4 => x + Paeth(a, b, c),
                    _ => throw new InvalidDataException($"filter {filter}"),
                });
            }
            for (int px = 0; px < width; px++)
            {
                rgb[(y * width + px) * 3] = cur[px * bpp];
                rgb[(y * width + px) * 3 + 1] = cur[px * bpp + 1];
                rgb[(y * width + px) * 3 + 2] = cur[px * bpp + 2];
            }
            (prev, cur) = (cur, prev);
        }
        return new Png(width, height, rgb);
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Standard deviation of the luminance over a rectangle (0 for a blank image).</summary>
    public double LuminanceStdDev(int x0, int y0, int w, int h)
    {
        double sum = 0, sq = 0;
        int n = 0;
        for (int y = y0; y < Math.Min(Height, y0 + h); y++)
            for (int x = x0; x < Math.Min(Width, x0 + w); x++)
            {
                var (r, g, b) = this[x, y];
                double l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
                sum += l; sq += l * l; n++;
            }
        if (n == 0) return 0;
        double mean = sum / n;
        return Math.Sqrt(Math.Max(0, sq / n - mean * mean));
    }

    /// <summary>Pixels in a rectangle within <paramref name="tolerance"/> of a colour on every channel.</summary>
    public int Count(int x0, int y0, int w, int h, (int R, int G, int B) color, int tolerance = 24)
    {
        int n = 0;
        for (int y = y0; y < Math.Min(Height, y0 + h); y++)
            for (int x = x0; x < Math.Min(Width, x0 + w); x++)
            {
                var (r, g, b) = this[x, y];
                if (Math.Abs(r - color.R) <= tolerance && Math.Abs(g - color.G) <= tolerance && Math.Abs(b - color.B) <= tolerance) n++;
            }
        return n;
    }
}
