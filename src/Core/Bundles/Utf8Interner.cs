using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace Magneton.Core.Bundles;

/// <summary>
/// Maps UTF-8 byte strings to dense ids without allocating a string per lookup: a trace repeats a few hundred kernel
/// names millions of times. Strings are materialised once per distinct name, on demand.
/// </summary>
internal sealed class Utf8Interner
{
    private byte[] _arena = new byte[64 * 1024];
    private int _arenaUsed;
    private readonly List<Entry> _entries = [];
    private readonly List<string?> _strings = [];
    private int[] _buckets = NewBuckets(1024);

    private readonly record struct Entry(int Hash, int Offset, int Length);

    public int Count => _entries.Count;

    public int Intern(ReadOnlySpan<byte> bytes)
    {
        int hash = Hash(bytes);
        int mask = _buckets.Length - 1;
        int slot = hash & mask;
        var entries = CollectionsMarshal.AsSpan(_entries);
        while (true)
        {
            int id = _buckets[slot];
            if (id < 0) break;
            ref readonly var e = ref entries[id];
            if (e.Hash == hash && e.Length == bytes.Length && _arena.AsSpan(e.Offset, e.Length).SequenceEqual(bytes))
                return id;
            slot = (slot + 1) & mask;
        }

        int newId = _entries.Count;
        if (_arenaUsed + bytes.Length > _arena.Length)
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaUsed + bytes.Length));
        bytes.CopyTo(_arena.AsSpan(_arenaUsed));
        _entries.Add(new Entry(hash, _arenaUsed, bytes.Length));
        _strings.Add(null);
        _arenaUsed += bytes.Length;
        _buckets[slot] = newId;
        // Keep the load factor under one half so probe chains stay short.
        if (_entries.Count * 2 > _buckets.Length) Rehash();
        return newId;
    }

    public string GetString(int id)
    {
        var s = _strings[id];
        if (s is null)
        {
            var e = _entries[id];
            s = Encoding.UTF8.GetString(_arena, e.Offset, e.Length);
            _strings[id] = s;
        }
        return s;
    }

    /// <summary>Every distinct string, by id.</summary>
    public List<string> ToStrings()
    {
        var all = new List<string>(Count);
        for (int id = 0; id < Count; id++) all.Add(GetString(id));
        return all;
    }

    private void Rehash()
    {
        var buckets = NewBuckets(_buckets.Length * 2);
        int mask = buckets.Length - 1;
        for (int id = 0; id < _entries.Count; id++)
        {
            int slot = _entries[id].Hash & mask;
            while (buckets[slot] >= 0) slot = (slot + 1) & mask;
            buckets[slot] = id;
        }
        _buckets = buckets;
    }

    private static int[] NewBuckets(int size)
    {
        var b = new int[size];
        b.AsSpan().Fill(-1);
        return b;
    }

    /// <summary>
    /// Eight bytes a step with a multiply-rotate mix and a final avalanche: names are hashed once per event, and
    /// HashCode.AddBytes' four-byte xxHash rounds cost more than the lookup they serve (kernel names run to hundreds
    /// of bytes). Ids do not depend on the hash, only probe lengths do.
    /// </summary>
    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        ulong h = 0x9E3779B97F4A7C15UL ^ (ulong)bytes.Length;
        var words = MemoryMarshal.Cast<byte, ulong>(bytes);
        foreach (ulong w in words) h = BitOperations.RotateLeft((h ^ w) * 0xBF58476D1CE4E5B9UL, 31);
        ulong tail = 0;
        var rest = bytes[(words.Length * 8)..];
        for (int i = 0; i < rest.Length; i++) tail |= (ulong)rest[i] << (8 * i);
        h = (h ^ tail) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 29;
        return (int)(h & int.MaxValue);
    }
}
