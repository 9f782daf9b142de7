using System.Buffers.Text;

namespace Magneton.Core.Bundles;

/// <summary>
/// power.csv, baseline_power.csv, replay_counter.csv: "t_unix_ns,power_instant_mw,power_avg_mw,energy_mj", integers,
/// -1 where a field was not read. Parsed over the raw bytes: no string per row or cell.
/// </summary>
public static class PowerCsvReader
{
    private static readonly string[] Columns = ["t_unix_ns", "power_instant_mw", "power_avg_mw", "energy_mj"];
    private static ReadOnlySpan<byte> Header => "t_unix_ns,power_instant_mw,power_avg_mw,energy_mj"u8;

    public static PowerSamples Read(string path, string file) => Parse(WholeFile.ReadAllBytes(path, file), file);

    public static PowerSamples Parse(ReadOnlySpan<byte> text, string file)
    {
        if (text.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) text = text[3..];
        if (text.IsEmpty) throw new BundleException(file, "file", "is empty");

        int headerEnd = text.IndexOf((byte)'\n');
        var header = TrimCr(headerEnd < 0 ? text : text[..headerEnd]);
        if (!header.SequenceEqual(Header))
            throw new BundleException(file, "header",
                $"expected \"{System.Text.Encoding.UTF8.GetString(Header)}\", got \"{Printable(header)}\"");
        var body = headerEnd < 0 ? [] : text[(headerEnd + 1)..];

        // Exact sizing from a vectorised newline count avoids list growth on multi-megabyte files.
        int capacity = body.Count((byte)'\n') + 1;
        var time = new long[capacity];
        var instant = new long[capacity];
        var average = new long[capacity];
        var energy = new long[capacity];
        var columns = new[] { time, instant, average, energy };

        int rows = 0;
        while (!body.IsEmpty)
        {
            int end = body.IndexOf((byte)'\n');
            var line = TrimCr(end < 0 ? body : body[..end]);
            body = end < 0 ? [] : body[(end + 1)..];
            int row = rows + 1;
            if (line.IsEmpty)
            {
                // A trailing newline (or a few) ends the file; an empty row with data after it is damage.
                if (IsBlank(body)) break;
                throw new BundleException(file, $"row {row}", $"is empty (line {row + 1})");
            }

            int column = 0;
            while (true)
            {
                int comma = line.IndexOf((byte)',');
                var cell = comma < 0 ? line : line[..comma];
                if (column >= Columns.Length)
                    throw new BundleException(file, $"row {row}", $"has more than {Columns.Length} columns (line {row + 1})");
                if (!Utf8Parser.TryParse(cell, out long value, out int used) || used != cell.Length || cell.IsEmpty)
                    throw new BundleException(file, $"row {row} {Columns[column]}",
                        $"\"{Printable(cell)}\" is not an integer (line {row + 1})");
                if (value < (column == 0 ? 0 : -1))
                    throw new BundleException(file, $"row {row} {Columns[column]}",
                        $"{value} is negative; only -1 (not read) is allowed (line {row + 1})");
                columns[column][rows] = value;
                column++;
                if (comma < 0) break;
                line = line[(comma + 1)..];
            }
            if (column != Columns.Length)
                throw new BundleException(file, $"row {row}", $"has {column} columns, expected {Columns.Length} (line {row + 1})");
            if (rows > 0 && time[rows] < time[rows - 1])
                throw new BundleException(file, $"row {row} t_unix_ns",
                    $"goes backwards from {time[rows - 1]} to {time[rows]} (line {row + 1})");
            rows++;
        }

        if (rows != capacity)
        {
            Array.Resize(ref time, rows);
            Array.Resize(ref instant, rows);
            Array.Resize(ref average, rows);
            Array.Resize(ref energy, rows);
        }
        return new PowerSamples(time, instant, average, energy);
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;

    private static bool IsBlank(ReadOnlySpan<byte> rest) => rest.IndexOfAnyExcept((byte)'\n', (byte)'\r') < 0;

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var text = System.Text.Encoding.UTF8.GetString(bytes.Length > 60 ? bytes[..60] : bytes);
        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
            if (char.IsControl(chars[i]) || chars[i] == '"') chars[i] = '?';
        return new string(chars) + (bytes.Length > 60 ? "..." : "");
    }
}
