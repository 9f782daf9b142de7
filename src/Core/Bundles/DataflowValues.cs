using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using static Magneton.Core.Bundles.JsonTokenFields;

namespace Magneton.Core.Bundles;

internal static partial class DataflowReader
{
    /// <summary>
    /// The typed reads under a node or a value: strings interned from their UTF-8 bytes and identical call stacks and
    /// shapes shared (a graph of a million operators repeats a few hundred names, stacks and shapes; the records are
    /// read-only). A read leaves the reader on the value's last token and puts a refusal in <see cref="Problem"/>
    /// (path relative to the field); it returns false when the window ends inside the value.
    /// </summary>
    private partial class Units
    {
        private readonly Utf8Interner _names = new();
        private readonly List<string?> _byId = [];
        private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
        private readonly List<int> _ints = [];
        private readonly List<long> _longs = [];
        private readonly List<double> _doubles = [];
        private readonly List<string> _frames = [];
        private readonly Dictionary<int, string[]> _stacks = [];
        private readonly Dictionary<int, long[]> _shapes = [];
        private readonly JsonText _text = new();

        /// <summary>Why the field just read is refused; null when it was accepted (or absent, for optional fields).</summary>
        private JsonFieldException? Problem { get; set; }

        private bool Refuse(string name, string problem, ref Utf8JsonReader r)
        {
            Problem = new JsonFieldException(name, problem);
            return Skip(ref r);
        }

        /// <summary>One string object per distinct text.</summary>
        private string Intern(string s)
        {
            if (_strings.TryGetValue(s, out var existing)) return existing;
            _strings.Add(s, s);
            return s;
        }

        /// <summary>A string or property-name token as an interned string.</summary>
        private string Str(ref Utf8JsonReader r)
        {
            if (r.ValueIsEscaped) return Intern(r.GetString()!);
            int id = _names.Intern(r.ValueSpan);
            if (id < _byId.Count && _byId[id] is { } known) return known;
            var text = Intern(_names.GetString(id));
            while (_byId.Count <= id) _byId.Add(null);
            _byId[id] = text;
            return text;
        }

        private bool String(ref Utf8JsonReader r, string name, out string? value)
        {
            value = null;
            if (r.TokenType != JsonTokenType.String) return Refuse(name, NotA(JsonTokenType.String, ref r)!, ref r);
            value = Str(ref r);
            return true;
        }

        /// <summary>Absent when null.</summary>
        private bool OptionalString(ref Utf8JsonReader r, string name, out string? value)
        {
            value = null;
            return r.TokenType == JsonTokenType.Null || String(ref r, name, out value);
        }

        private bool Int32(ref Utf8JsonReader r, string name, out int value)
        {
            var problem = JsonTokenFields.Int32(ref r, out value);
            return problem is null || Refuse(name, problem, ref r);
        }

        private bool OptionalInt32(ref Utf8JsonReader r, string name, out int? value)
        {
            value = null;
            if (r.TokenType == JsonTokenType.Null) return true;
            bool whole = Int32(ref r, name, out int x);
            if (Problem is null) value = x;
            return whole;
        }

        private bool Int64(ref Utf8JsonReader r, string name, out long value)
        {
            var problem = JsonTokenFields.Int64(ref r, out value);
            return problem is null || Refuse(name, problem, ref r);
        }

        private bool Boolean(ref Utf8JsonReader r, string name, out bool value)
        {
            var problem = JsonTokenFields.Boolean(ref r, out value);
            return problem is null || Refuse(name, problem, ref r);
        }

        /// <summary>Non-tensor arguments are a display string; an older probe wrote them as a list, so render rather than refuse.</summary>
        private bool Args(ref Utf8JsonReader r, out string? args)
        {
            args = null;
            if (r.TokenType == JsonTokenType.Null) return true;
            if (r.TokenType == JsonTokenType.String)
            {
                args = Str(ref r);
                return true;
            }
            if (!TryRender(ref r, out var text)) return false;
            args = Intern(text);
            return true;
        }

        private interface IElement<T>
        {
            /// <summary>The element at the reader, or why it is refused.</summary>
            string? Read(ref Utf8JsonReader r, out T value);
        }

        private readonly struct Int32Element : IElement<int>
        {
            public string? Read(ref Utf8JsonReader r, out int value) => JsonTokenFields.Int32(ref r, out value);
        }

        private readonly struct Int64Element : IElement<long>
        {
            public string? Read(ref Utf8JsonReader r, out long value) => JsonTokenFields.Int64(ref r, out value);
        }

        private readonly struct DoubleElement : IElement<double>
        {
            public string? Read(ref Utf8JsonReader r, out double value) => DoubleOrNaN(ref r, out value);
        }

        private readonly struct StringElement(Units units) : IElement<string>
        {
            public string? Read(ref Utf8JsonReader r, out string value)
            {
                value = "";
                if (r.TokenType != JsonTokenType.String) return NotA(JsonTokenType.String, ref r);
                value = units.Str(ref r);
                return null;
            }
        }

        /// <summary>
        /// An array read into <paramref name="into"/>; a refusal (not an array, or the first refused element) goes to
        /// <see cref="Problem"/> under <paramref name="name"/>, and the rest of the array is still read past.
        /// </summary>
        private bool Elements<T, TElement>(ref Utf8JsonReader r, string name, List<T> into, TElement element)
            where TElement : struct, IElement<T>
        {
            into.Clear();
            if (r.TokenType != JsonTokenType.StartArray) return Refuse(name, NotA(JsonTokenType.StartArray, ref r)!, ref r);
            for (int k = 0; ; k++)
            {
                if (!r.Read()) return false;
                if (r.TokenType == JsonTokenType.EndArray) return true;
                if (Problem is null)
                {
                    var problem = element.Read(ref r, out T value);
                    if (problem is null) into.Add(value);
                    else Problem = new JsonFieldException($"{name}[{k}]", problem);
                }
                if (!Skip(ref r)) return false;
            }
        }

        private bool Int32s(ref Utf8JsonReader r, string name, out int[]? value)
        {
            value = null;
            if (!Elements(ref r, name, _ints, new Int32Element())) return false;
            if (Problem is null) value = _ints.ToArray();
            return true;
        }

        private bool Doubles(ref Utf8JsonReader r, string name, out double[]? value)
        {
            value = null;
            if (!Elements(ref r, name, _doubles, new DoubleElement())) return false;
            if (Problem is null) value = _doubles.ToArray();
            return true;
        }

        /// <summary>A call stack: one array per distinct stack, compared by the (interned) frames.</summary>
        private bool Stack(ref Utf8JsonReader r, out string[]? value)
        {
            value = null;
            if (!Elements(ref r, "stack", _frames, new StringElement(this))) return false;
            if (Problem is not null) return true;
            var h = new HashCode();
            foreach (var f in _frames) h.Add(RuntimeHelpers.GetHashCode(f));
            h.Add(_frames.Count);
            int hash = h.ToHashCode();
            if (_stacks.TryGetValue(hash, out var known) && SameFrames(known, _frames))
            {
                value = known;
                return true;
            }
            value = _frames.ToArray();
            _stacks[hash] = value;
            return true;
        }

        private static bool SameFrames(string[] known, List<string> frames)
        {
            if (known.Length != frames.Count) return false;
            for (int i = 0; i < known.Length; i++) if (!ReferenceEquals(known[i], frames[i])) return false;
            return true;
        }

        /// <summary>A shape or stride: short ones are shared.</summary>
        private bool Longs(ref Utf8JsonReader r, string name, out long[]? value)
        {
            value = null;
            if (!Elements(ref r, name, _longs, new Int64Element())) return false;
            if (Problem is not null) return true;
            var h = new HashCode();
            foreach (var x in _longs) h.Add(x);
            h.Add(_longs.Count);
            int hash = h.ToHashCode();
            if (_shapes.TryGetValue(hash, out var known) && known.AsSpan().SequenceEqual(CollectionsMarshal.AsSpan(_longs)))
            {
                value = known;
                return true;
            }
            value = _longs.ToArray();
            if (value.Length <= 8) _shapes[hash] = value;
            return true;
        }
    }
}
