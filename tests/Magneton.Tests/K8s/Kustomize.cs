using System.Diagnostics;
using System.Text;
using Magneton.Tests.Grains;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Magneton.Tests.K8s;

/// <summary>
/// Renders the kustomizations under <c>k8s/</c>: with <c>kubectl kustomize</c> where kubectl is on PATH, and always
/// with <see cref="Render"/>, a small renderer of the subset of kustomize the manifests use (resources, namespace,
/// labels without selectors, replicas, images, configMapGenerator with literals and no name hash, strategic-merge
/// patches from files). CI runs without network and may lack kubectl; where it has one,
/// <see cref="KustomizeRenderTests"/> checks that both render the same objects. Anything outside the subset throws
/// <see cref="NotSupportedException"/>, so a kustomization that grows past it fails the tests instead of rendering
/// differently.
/// </summary>
public static class Kustomize
{
    public static string K8sRoot => Path.Combine(TestRepo.Root, "k8s");
    public static string Overlay(string name) => Path.Combine(K8sRoot, "overlays", name);
    public static readonly string[] Overlays = ["local", "production"];

    static readonly HashSet<string> KnownFields =
        ["apiVersion", "kind", "resources", "namespace", "labels", "replicas", "images", "configMapGenerator", "patches"];

    static readonly HashSet<string> ClusterScoped =
        ["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass",
         "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "RuntimeClass"];

    // ---------------------------------------------------------------- kubectl

    /// <summary>Set to "test" to render with the test renderer even where kubectl exists (to try the fallback).</summary>
    public const string RendererVariable = "MAGNETON_K8S_RENDERER";

    static readonly Lazy<string?> KubectlPath = new(() =>
    {
        if (Environment.GetEnvironmentVariable(RendererVariable) == "test") return null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "kubectl");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    });

    /// <summary>kubectl on PATH, or null.</summary>
    public static string? Kubectl => KubectlPath.Value;

    /// <summary><c>kubectl kustomize DIR</c>: the rendered YAML (throws with kubectl's stderr when it fails).</summary>
    public static string KubectlKustomize(string directory)
    {
        var psi = new ProcessStartInfo(Kubectl ?? throw new InvalidOperationException("kubectl is not on PATH"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("kustomize");
        psi.ArgumentList.Add(directory);
        // Nothing in the kustomizations is remote; keep kubectl away from any kubeconfig or cluster.
        psi.Environment["KUBECONFIG"] = "/dev/null";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl kustomize {directory} did not finish within 60 s");
        }
        if (p.ExitCode != 0) throw new InvalidOperationException($"kubectl kustomize {directory} exited {p.ExitCode}: {stderr.Result}");
        return stdout;
    }

    // ---------------------------------------------------------------- the small renderer

    /// <summary>Renders the kustomization in <paramref name="directory"/> (its kustomization.yaml).</summary>
    public static List<YamlMappingNode> Render(string directory)
    {
        directory = Path.GetFullPath(directory);
        var file = new[] { "kustomization.yaml", "kustomization.yml", "Kustomization" }
            .Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException($"no kustomization.yaml in {directory}");
        var k = (YamlMappingNode)LoadDocuments(File.ReadAllText(file)).Single();
        foreach (var key in k.Children.Keys)
            if (!KnownFields.Contains(Scalar(key)))
                throw new NotSupportedException($"{file}: field '{Scalar(key)}' is outside the renderer's kustomize subset");

        // 1. Resources: files (any number of documents) and directories (kustomizations of their own).
        var objects = new List<YamlMappingNode>();
        foreach (var entry in Seq(k, "resources"))
        {
            string path = Path.Combine(directory, Scalar(entry));
            if (Directory.Exists(path)) objects.AddRange(Render(path));
            else objects.AddRange(LoadDocuments(File.ReadAllText(path)).Cast<YamlMappingNode>());
        }

        // 2. Generators.
        foreach (var gen in Seq(k, "configMapGenerator").Cast<YamlMappingNode>())
            objects.Add(GenerateConfigMap(file, gen));

        // 3. Transformers, in kustomize's order: patches, namespace, labels, replicas, images.
        foreach (var patch in Seq(k, "patches").Cast<YamlMappingNode>())
        {
            foreach (var key in patch.Children.Keys)
                if (Scalar(key) is not ("path" or "patch"))
                    throw new NotSupportedException($"{file}: patches[].{Scalar(key)} is outside the renderer's subset (strategic-merge patches by path)");
            string text = Get(patch, "path") is { } p ? File.ReadAllText(Path.Combine(directory, Scalar(p))) : Scalar(Get(patch, "patch")!);
            foreach (var doc in LoadDocuments(text).Cast<YamlMappingNode>())
            {
                string kind = Scalar(Get(doc, "kind")!), name = Scalar(Path2(doc, "metadata", "name")!);
                var target = objects.Where(o => Scalar(Get(o, "kind")!) == kind && Name(o) == name).ToList();
                if (target.Count != 1) throw new InvalidOperationException($"{file}: patch for {kind}/{name} matches {target.Count} objects");
                MergeMapping(target[0], doc, "");
            }
        }

        if (Get(k, "namespace") is { } nsNode)
        {
            string ns = Scalar(nsNode);
            foreach (var o in objects)
            {
                string kind = Scalar(Get(o, "kind")!);
                if (!ClusterScoped.Contains(kind)) Set(Mapping(o, "metadata"), "namespace", new YamlScalarNode(ns));
                if (kind is "RoleBinding" or "ClusterRoleBinding")
                    foreach (var subject in Seq(o, "subjects").Cast<YamlMappingNode>())
                        if (Scalar(Get(subject, "kind")!) == "ServiceAccount" && Get(subject, "namespace") is null or YamlScalarNode { Value: "default" })
                            Set(subject, "namespace", new YamlScalarNode(ns));
            }
        }

        foreach (var labels in Seq(k, "labels").Cast<YamlMappingNode>())
        {
            foreach (var key in labels.Children.Keys)
            {
                string field = Scalar(key);
                if (field == "pairs") continue;
                if (field is "includeSelectors" or "includeTemplates" && Scalar(labels.Children[key]) == "false") continue;
                throw new NotSupportedException($"{file}: labels[].{field} is outside the renderer's subset (metadata labels only)");
            }
            foreach (var o in objects)
            {
                var target = Mapping(Mapping(o, "metadata"), "labels");
                foreach (var (lk, lv) in ((YamlMappingNode)Get(labels, "pairs")!).Children)
                    Set(target, Scalar(lk), new YamlScalarNode(Scalar(lv)));
            }
        }

        foreach (var r in Seq(k, "replicas").Cast<YamlMappingNode>())
        {
            string name = Scalar(Get(r, "name")!);
            var hits = objects.Where(o => Scalar(Get(o, "kind")!) is "Deployment" or "StatefulSet" or "ReplicaSet" && Name(o) == name).ToList();
            if (hits.Count == 0) throw new InvalidOperationException($"{file}: replicas for {name} match no workload");
            foreach (var o in hits) Set(Mapping(o, "spec"), "replicas", new YamlScalarNode(Scalar(Get(r, "count")!)));
        }

        foreach (var image in Seq(k, "images").Cast<YamlMappingNode>())
        {
            foreach (var key in image.Children.Keys)
                if (Scalar(key) is not ("name" or "newName" or "newTag"))
                    throw new NotSupportedException($"{file}: images[].{Scalar(key)} is outside the renderer's subset");
            string name = Scalar(Get(image, "name")!);
            string? newName = Get(image, "newName") is { } nn ? Scalar(nn) : null;
            string? newTag = Get(image, "newTag") is { } nt ? Scalar(nt) : null;
            foreach (var o in objects) RewriteImages(o, name, newName, newTag);
        }
        return objects;
    }

    static YamlMappingNode GenerateConfigMap(string file, YamlMappingNode gen)
    {
        foreach (var key in gen.Children.Keys)
            if (Scalar(key) is not ("name" or "literals" or "options"))
                throw new NotSupportedException($"{file}: configMapGenerator[].{Scalar(key)} is outside the renderer's subset (literals)");
        if (Path2(gen, "options", "disableNameSuffixHash") is not YamlScalarNode { Value: "true" })
            throw new NotSupportedException($"{file}: configMapGenerator needs options.disableNameSuffixHash: true (the renderer computes no name hash)");
        var data = new YamlMappingNode();
        foreach (var literal in Seq(gen, "literals"))
        {
            string text = Scalar(literal);
            int eq = text.IndexOf('=');
            if (eq <= 0) throw new InvalidOperationException($"{file}: literal '{text}' is not key=value");
            data.Add(text[..eq], new YamlScalarNode(text[(eq + 1)..]));
        }
        return new YamlMappingNode(
            new YamlScalarNode("apiVersion"), new YamlScalarNode("v1"),
            new YamlScalarNode("kind"), new YamlScalarNode("ConfigMap"),
            new YamlScalarNode("metadata"), new YamlMappingNode(new YamlScalarNode("name"), new YamlScalarNode(Scalar(Get(gen, "name")!))),
            new YamlScalarNode("data"), data);
    }

    /// <summary>Sets the image of every container and init container whose image name (no tag) is <paramref name="name"/>.</summary>
    static void RewriteImages(YamlNode node, string name, string? newName, string? newTag)
    {
        switch (node)
        {
            case YamlMappingNode m:
                foreach (var (key, value) in m.Children.ToList())
                {
                    if (Scalar(key) is "containers" or "initContainers" && value is YamlSequenceNode containers)
                    {
                        foreach (var c in containers.Cast<YamlMappingNode>())
                        {
                            if (Get(c, "image") is not YamlScalarNode img) continue;
                            var (imgName, tag) = SplitImage(img.Value!);
                            if (imgName != name) continue;
                            string? finalTag = newTag ?? tag;
                            Set(c, "image", new YamlScalarNode((newName ?? imgName) + (finalTag is null ? "" : ":" + finalTag)));
                        }
                    }
                    else RewriteImages(value, name, newName, newTag);
                }
                break;
            case YamlSequenceNode s:
                foreach (var child in s) RewriteImages(child, name, newName, newTag);
                break;
        }
    }

    static (string Name, string? Tag) SplitImage(string image)
    {
        if (image.Contains('@')) throw new NotSupportedException($"image digests ({image}) are outside the renderer's subset");
        int slash = image.LastIndexOf('/'), colon = image.LastIndexOf(':');
        return colon > slash ? (image[..colon], image[(colon + 1)..]) : (image, null);
    }

    // ---------------------------------------------------------------- strategic merge (the part the patches use)

    /// <summary>List merge keys by field name (Kubernetes' patchMergeKey for these fields); other lists are replaced.</summary>
    static readonly Dictionary<string, string> MergeKeys = new()
    {
        ["containers"] = "name",
        ["initContainers"] = "name",
        ["volumes"] = "name",
        ["env"] = "name",
        ["volumeMounts"] = "mountPath",
        ["imagePullSecrets"] = "name",
        ["topologySpreadConstraints"] = "topologyKey",
    };

    /// <summary>The merge key of a patched list, or null for a list the patch replaces.</summary>
    static string? MergeKeyOf(string field)
    {
        // Ports merge on (containerPort, protocol) or (port, protocol), with defaults kustomize applies in its own way.
        if (field == "ports") throw new NotSupportedException("patching a ports list is outside the renderer's subset");
        return MergeKeys.GetValueOrDefault(field);
    }

    static void MergeMapping(YamlMappingNode target, YamlMappingNode patch, string at)
    {
        foreach (var (keyNode, value) in patch.Children)
        {
            string key = Scalar(keyNode);
            if (key.StartsWith('$')) throw new NotSupportedException($"patch directive {key} at {at} is outside the renderer's subset");
            var existing = Get(target, key);
            if (value is YamlScalarNode { Style: not (ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted), Value: "null" or "~" or "" })
            {
                target.Children.Remove(new YamlScalarNode(key));
                continue;
            }
            switch (existing, value)
            {
                case (YamlMappingNode em, YamlMappingNode pm):
                    MergeMapping(em, pm, at + "/" + key);
                    break;
                case (YamlSequenceNode es, YamlSequenceNode ps) when MergeKeyOf(key) is { } mergeKey:
                    foreach (var item in ps.Cast<YamlMappingNode>())
                    {
                        string id = Scalar(Get(item, mergeKey) ?? throw new InvalidOperationException($"patch list item at {at}/{key} has no {mergeKey}"));
                        var match = es.Cast<YamlMappingNode>().FirstOrDefault(e => Get(e, mergeKey) is YamlScalarNode s && s.Value == id);
                        if (match is null) es.Add(item);
                        else MergeMapping(match, item, $"{at}/{key}[{id}]");
                    }
                    break;
                default:
                    Set(target, key, value);
                    break;
            }
        }
    }

    // ---------------------------------------------------------------- YAML helpers

    /// <summary>The non-empty documents of a multi-document YAML text, each a mapping.</summary>
    public static List<YamlNode> LoadDocuments(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => d.RootNode)
            .Where(n => n is not YamlScalarNode { Value: null or "" })
            .ToList();
    }

    /// <summary>Writes objects as one multi-document YAML text (what kubectl kustomize prints).</summary>
    public static string ToYaml(IEnumerable<YamlMappingNode> objects)
    {
        var sb = new StringBuilder();
        foreach (var o in objects)
        {
            if (sb.Length > 0) sb.Append("---\n");
            var stream = new YamlStream(new YamlDocument(o));
            using var w = new StringWriter();
            stream.Save(w, assignAnchors: false);
            string doc = w.ToString();
            // YamlStream ends each document with "..."; kubectl's multi-document output has none.
            doc = doc.TrimEnd();
            if (doc.EndsWith("...", StringComparison.Ordinal)) doc = doc[..^3].TrimEnd();
            sb.Append(doc).Append('\n');
        }
        return sb.ToString();
    }

    public static string Scalar(YamlNode node) => node is YamlScalarNode s
        ? s.Value ?? ""
        : throw new InvalidOperationException($"expected a scalar at {node.Start}, found {node.NodeType}");

    public static YamlNode? Get(YamlMappingNode m, string key) =>
        m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    public static YamlNode? Path2(YamlMappingNode m, params string[] keys)
    {
        YamlNode? node = m;
        foreach (var key in keys) node = node is YamlMappingNode mm ? Get(mm, key) : null;
        return node;
    }

    static IEnumerable<YamlNode> Seq(YamlMappingNode m, string key) => Get(m, key) switch
    {
        null => [],
        YamlSequenceNode s => s.Children,
        var other => throw new InvalidOperationException($"'{key}' at {other.Start} is not a list"),
    };

    static YamlMappingNode Mapping(YamlMappingNode m, string key)
    {
        if (Get(m, key) is YamlMappingNode existing) return existing;
        var created = new YamlMappingNode();
        Set(m, key, created);
        return created;
    }

    static void Set(YamlMappingNode m, string key, YamlNode value) => m.Children[new YamlScalarNode(key)] = value;

    public static string Name(YamlMappingNode o) => Path2(o, "metadata", "name") is YamlScalarNode s ? s.Value ?? "" : "";

    /// <summary>kind/namespace/name of a rendered object.</summary>
    public static string Identity(YamlMappingNode o) =>
        $"{Scalar(Get(o, "kind")!)}/{(Path2(o, "metadata", "namespace") is YamlScalarNode ns ? ns.Value : "-")}/{Name(o)}";

    /// <summary>
    /// The differences between two YAML trees, as paths: mappings compared key by key (order ignored), lists item by
    /// item, scalars by value (quoting ignored: kubectl and YamlDotNet quote differently).
    /// </summary>
    public static IEnumerable<string> Differences(YamlNode? a, YamlNode? b, string at = "")
    {
        switch (a, b)
        {
            case (YamlMappingNode ma, YamlMappingNode mb):
                var keys = ma.Children.Keys.Select(Scalar).Union(mb.Children.Keys.Select(Scalar));
                foreach (var key in keys)
                    foreach (var d in Differences(Get(ma, key), Get(mb, key), at + "/" + key))
                        yield return d;
                break;
            case (YamlSequenceNode sa, YamlSequenceNode sb):
                for (int i = 0; i < Math.Max(sa.Children.Count, sb.Children.Count); i++)
                    foreach (var d in Differences(i < sa.Children.Count ? sa[i] : null, i < sb.Children.Count ? sb[i] : null, $"{at}[{i}]"))
                        yield return d;
                break;
            case (YamlScalarNode xa, YamlScalarNode xb):
                if (xa.Value != xb.Value) yield return $"{at}: '{xa.Value}' != '{xb.Value}'";
                break;
            case (null, null):
                break;
            default:
                yield return $"{at}: {a?.NodeType.ToString() ?? "missing"} != {b?.NodeType.ToString() ?? "missing"}";
                break;
        }
    }
}
