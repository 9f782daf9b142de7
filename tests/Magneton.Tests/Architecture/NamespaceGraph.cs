using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Magneton.Tests.Architecture;

/// <summary>
/// Which namespace of an assembly uses which, read from its metadata: every type's base type, interfaces, fields,
/// method and property signatures, attributes, locals and the types, methods and fields its IL names. Nested and
/// compiler-generated types (closures, state machines) count for the namespace of the type that declares them.
/// Only the assembly's own types count; references to other assemblies are not edges.
/// </summary>
public sealed class NamespaceGraph
{
    /// <summary>From namespace, to namespace: one example of a use (user type, used type) that makes the edge.</summary>
    public IReadOnlyDictionary<(string From, string To), (string User, string Used)> Edges { get; }

    public IReadOnlyCollection<string> Namespaces { get; }

    NamespaceGraph(Dictionary<(string, string), (string, string)> edges, HashSet<string> namespaces)
    {
        Edges = edges;
        Namespaces = namespaces;
    }

    public static NamespaceGraph Of(Assembly assembly, string rootNamespace)
    {
        using var stream = File.OpenRead(assembly.Location);
        using var pe = new PEReader(stream);
        var reader = new Reader(pe.GetMetadataReader(), pe, rootNamespace);
        foreach (var handle in reader.Metadata.TypeDefinitions) reader.Visit(handle);
        return new NamespaceGraph(reader.Edges, reader.Namespaces);
    }

    /// <summary>The namespaces on each cycle (strongly connected component of more than one namespace), Tarjan.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Cycles()
    {
        var next = Namespaces.ToDictionary(n => n, _ => new List<string>());
        foreach (var (from, to) in Edges.Keys) next[from].Add(to);
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var components = new List<IReadOnlyList<string>>();
        void Connect(string v)
        {
            index[v] = low[v] = index.Count;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in next[v].Order(StringComparer.Ordinal))
            {
                if (!index.ContainsKey(w)) { Connect(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new List<string>();
            string x;
            do { x = stack.Pop(); onStack.Remove(x); component.Add(x); } while (x != v);
            if (component.Count > 1) components.Add(component.Order(StringComparer.Ordinal).ToList());
        }
        foreach (var n in Namespaces.Order(StringComparer.Ordinal))
            if (!index.ContainsKey(n)) Connect(n);
        return components;
    }

    /// <summary>
    /// One closed path through a cycle's namespaces, each step with the use that makes it:
    /// "A -> B (A.X uses B.Y) -> A (B.Z uses A.W)". Breadth-first, so the path is a shortest one from the first.
    /// </summary>
    public string Describe(IReadOnlyList<string> cycle)
    {
        var members = cycle.ToHashSet();
        string start = cycle[0];
        var previous = new Dictionary<string, string>();
        var queue = new Queue<string>([start]);
        string? last = null;
        while (queue.Count > 0 && last is null)
        {
            var v = queue.Dequeue();
            foreach (var (from, to) in Edges.Keys.Where(e => e.From == v && members.Contains(e.To)).OrderBy(e => e.To, StringComparer.Ordinal))
            {
                if (to == start) { last = v; break; }
                if (previous.TryAdd(to, v)) queue.Enqueue(to);
            }
        }
        var path = new List<string> { start };
        for (var v = last!; v != start; v = previous[v]) path.Insert(1, v);
        path.Add(start);
        var steps = path.Zip(path.Skip(1), (f, t) => $"{t} ({Edges[(f, t)].User} uses {Edges[(f, t)].Used})");
        return start + " -> " + string.Join(" -> ", steps);
    }

    /// <summary>A cycle as a failure should show it: one closed path, then every use between its namespaces.</summary>
    public string Explain(IReadOnlyList<string> cycle)
    {
        var members = cycle.ToHashSet();
        var uses = Edges.Where(e => members.Contains(e.Key.From) && members.Contains(e.Key.To))
            .OrderBy(e => e.Key.From, StringComparer.Ordinal).ThenBy(e => e.Key.To, StringComparer.Ordinal)
            .Select(e => $"  {e.Key.From} -> {e.Key.To}: {e.Value.User} uses {e.Value.Used}");
        return Describe(cycle) + "\n" + string.Join("\n", uses);
    }

    sealed class Reader(MetadataReader metadata, PEReader pe, string root)
    {
        static readonly Dictionary<short, OperandType> Operands = typeof(OpCodes)
            .GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (OpCode)f.GetValue(null)!)
            .ToDictionary(o => o.Value, o => o.OperandType);

        public MetadataReader Metadata { get; } = metadata;
        public Dictionary<(string, string), (string, string)> Edges { get; } = [];
        public HashSet<string> Namespaces { get; } = [];
        readonly SignatureTypes types = new(metadata);
        TypeDefinitionHandle current;

        public void Visit(TypeDefinitionHandle handle)
        {
            string? ns = NamespaceOf(handle);
            if (ns is null) return;
            Namespaces.Add(ns);
            current = handle;
            var type = Metadata.GetTypeDefinition(handle);
            Use(type.BaseType);
            foreach (var i in type.GetInterfaceImplementations()) Use(Metadata.GetInterfaceImplementation(i).Interface);
            Attributes(type.GetCustomAttributes());
            foreach (var f in type.GetFields())
            {
                var field = Metadata.GetFieldDefinition(f);
                Use(field.DecodeSignature(types, null));
                Attributes(field.GetCustomAttributes());
            }
            foreach (var p in type.GetProperties())
            {
                var property = Metadata.GetPropertyDefinition(p);
                var signature = property.DecodeSignature(types, null);
                Use(signature.ReturnType);
                foreach (var t in signature.ParameterTypes) Use(t);
                Attributes(property.GetCustomAttributes());
            }
            foreach (var m in type.GetMethods()) Method(Metadata.GetMethodDefinition(m));
        }

        void Method(MethodDefinition method)
        {
            var signature = method.DecodeSignature(types, null);
            Use(signature.ReturnType);
            foreach (var t in signature.ParameterTypes) Use(t);
            Attributes(method.GetCustomAttributes());
            foreach (var p in method.GetParameters()) Attributes(Metadata.GetParameter(p).GetCustomAttributes());
            if (method.RelativeVirtualAddress == 0) return;
            var body = pe.GetMethodBody(method.RelativeVirtualAddress);
            if (!body.LocalSignature.IsNil)
                foreach (var t in Metadata.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(types, null)) Use(t);
            Il(body.GetILReader());
        }

        /// <summary>Every token an instruction names (types, methods, fields, signatures); strings are skipped.</summary>
        void Il(BlobReader il)
        {
            while (il.RemainingBytes > 0)
            {
                short code = il.ReadByte();
                if (code == 0xFE) code = unchecked((short)(0xFE00 | il.ReadByte()));
                switch (Operands[code])
                {
                    case OperandType.InlineNone: break;
                    case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                    case OperandType.InlineVar: il.Offset += 2; break;
                    case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                    case OperandType.InlineSwitch: int targets = il.ReadInt32(); il.Offset += 4 * targets; break;
                    case OperandType.InlineBrTarget or OperandType.InlineI or OperandType.ShortInlineR or OperandType.InlineString: il.Offset += 4; break;
                    default: Token(MetadataTokens.EntityHandle(il.ReadInt32())); break;
                }
            }
        }

        void Token(EntityHandle handle)
        {
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition or HandleKind.TypeSpecification: Use(handle); break;
                case HandleKind.MethodDefinition:
                    Use(Metadata.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.FieldDefinition:
                    Use(Metadata.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.MemberReference:
                    var member = Metadata.GetMemberReference((MemberReferenceHandle)handle);
                    Use(member.Parent);
                    if (member.GetKind() == MemberReferenceKind.Method)
                    {
                        var signature = member.DecodeMethodSignature(types, null);
                        Use(signature.ReturnType);
                        foreach (var t in signature.ParameterTypes) Use(t);
                    }
                    else Use(member.DecodeFieldSignature(types, null));
                    break;
                case HandleKind.MethodSpecification:
                    var spec = Metadata.GetMethodSpecification((MethodSpecificationHandle)handle);
                    Token(spec.Method);
                    foreach (var t in spec.DecodeSignature(types, null)) Use(t);
                    break;
                case HandleKind.StandaloneSignature:
                    break; // calli: no use of a type of this assembly in practice
            }
        }

        void Attributes(CustomAttributeHandleCollection attributes)
        {
            foreach (var a in attributes) Token(Metadata.GetCustomAttribute(a).Constructor);
        }

        void Use(EntityHandle handle)
        {
            if (handle.IsNil) return;
            if (handle.Kind == HandleKind.TypeDefinition) Use([(TypeDefinitionHandle)handle]);
            else if (handle.Kind == HandleKind.TypeSpecification)
                Use(Metadata.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(types, null));
        }

        void Use(ImmutableArray<TypeDefinitionHandle> used)
        {
            string from = NamespaceOf(current)!;
            foreach (var u in used)
                if (NamespaceOf(u) is { } to && to != from)
                    Edges.TryAdd((from, to), (NameOf(current), NameOf(u)));
        }

        TypeDefinitionHandle Outermost(TypeDefinitionHandle handle)
        {
            for (var t = Metadata.GetTypeDefinition(handle); t.IsNested; t = Metadata.GetTypeDefinition(handle))
                handle = t.GetDeclaringType();
            return handle;
        }

        /// <summary>The namespace a type counts for; null when it is not under the root (module-level helpers).</summary>
        string? NamespaceOf(TypeDefinitionHandle handle)
        {
            string ns = Metadata.GetString(Metadata.GetTypeDefinition(Outermost(handle)).Namespace);
            return ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal) ? ns : null;
        }

        string NameOf(TypeDefinitionHandle handle)
        {
            var t = Metadata.GetTypeDefinition(Outermost(handle));
            return Metadata.GetString(t.Namespace) + "." + Metadata.GetString(t.Name);
        }
    }

    /// <summary>A decoded signature as the types of this assembly it names (generic arguments included).</summary>
    sealed class SignatureTypes(MetadataReader metadata) : ISignatureTypeProvider<ImmutableArray<TypeDefinitionHandle>, object?>
    {
        static readonly ImmutableArray<TypeDefinitionHandle> None = [];
        public ImmutableArray<TypeDefinitionHandle> GetArrayType(ImmutableArray<TypeDefinitionHandle> elementType, ArrayShape shape) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetByReferenceType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetFunctionPointerType(MethodSignature<ImmutableArray<TypeDefinitionHandle>> signature) =>
            [.. signature.ReturnType, .. signature.ParameterTypes.SelectMany(p => p)];
        public ImmutableArray<TypeDefinitionHandle> GetGenericInstantiation(ImmutableArray<TypeDefinitionHandle> genericType,
            ImmutableArray<ImmutableArray<TypeDefinitionHandle>> typeArguments) => [.. genericType, .. typeArguments.SelectMany(a => a)];
        public ImmutableArray<TypeDefinitionHandle> GetGenericMethodParameter(object? genericContext, int index) => None;
        public ImmutableArray<TypeDefinitionHandle> GetGenericTypeParameter(object? genericContext, int index) => None;
        public ImmutableArray<TypeDefinitionHandle> GetModifiedType(ImmutableArray<TypeDefinitionHandle> modifier,
            ImmutableArray<TypeDefinitionHandle> unmodifiedType, bool isRequired) => unmodifiedType;
        public ImmutableArray<TypeDefinitionHandle> GetPinnedType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetPointerType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetPrimitiveType(PrimitiveTypeCode typeCode) => None;
        public ImmutableArray<TypeDefinitionHandle> GetSZArrayType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => [handle];
        public ImmutableArray<TypeDefinitionHandle> GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => None;
        public ImmutableArray<TypeDefinitionHandle> GetTypeFromSpecification(MetadataReader reader, object? genericContext,
            TypeSpecificationHandle handle, byte rawTypeKind) => metadata.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
    }
}
