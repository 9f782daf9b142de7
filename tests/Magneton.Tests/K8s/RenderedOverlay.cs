using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Magneton.Tests.K8s;

/// <summary>
/// One overlay of <c>k8s/overlays</c>, rendered (by kubectl where it is on PATH, else by <see cref="Kustomize.Render"/>;
/// <see cref="KustomizeRenderTests"/> checks that the two agree) and loaded into the KubernetesClient models with the
/// strict deserializer, so a misspelt field fails here as it would fail <c>kubectl apply</c>.
/// </summary>
public sealed class RenderedOverlay
{
    static readonly ConcurrentDictionary<string, Lazy<RenderedOverlay>> Cache = new();

    public string Name { get; }
    /// <summary>"kubectl kustomize" or "test renderer".</summary>
    public string RenderedBy { get; }
    public string Yaml { get; }
    public IReadOnlyList<YamlMappingNode> Nodes { get; }
    public IReadOnlyList<IKubernetesObject> Objects { get; }

    RenderedOverlay(string name)
    {
        Name = name;
        string dir = Kustomize.Overlay(name);
        if (Kustomize.Kubectl is not null)
        {
            Yaml = Kustomize.KubectlKustomize(dir);
            RenderedBy = "kubectl kustomize";
        }
        else
        {
            Yaml = Kustomize.ToYaml(Kustomize.Render(dir));
            RenderedBy = "test renderer";
        }
        Nodes = Kustomize.LoadDocuments(Yaml).Cast<YamlMappingNode>().ToList();
        Objects = KubernetesYaml.LoadAllFromString(Yaml, strict: true).Cast<IKubernetesObject>().ToList();
    }

    public static RenderedOverlay Get(string name) =>
        Cache.GetOrAdd(name, n => new Lazy<RenderedOverlay>(() => new RenderedOverlay(n))).Value;

    public IEnumerable<T> All<T>() => Objects.OfType<T>();

    public T One<T>(string name) where T : IMetadata<V1ObjectMeta> =>
        All<T>().SingleOrDefault(o => o.Metadata.Name == name)
        ?? throw new Xunit.Sdk.XunitException($"{Name}: no {typeof(T).Name} named {name} (rendered by {RenderedBy})");

    public V1Deployment Silo => One<V1Deployment>("magneton-silo");
    public V1Container SiloContainer => Silo.Spec.Template.Spec.Containers.Single(c => c.Name == "silo");
    public V1DaemonSet Worker => One<V1DaemonSet>("magneton-worker");
    public V1Job Campaign => One<V1Job>("magneton-campaign");
    public V1CronJob Audit => One<V1CronJob>("magneton-audit");

    /// <summary>Every pod spec in the overlay, with the workload it belongs to ("Kind/name").</summary>
    public IEnumerable<(string Owner, V1PodSpec Spec, V1ObjectMeta? TemplateMeta)> PodSpecs()
    {
        foreach (var o in Objects)
        {
            switch (o)
            {
                case V1Deployment d: yield return ($"Deployment/{d.Metadata.Name}", d.Spec.Template.Spec, d.Spec.Template.Metadata); break;
                case V1StatefulSet s: yield return ($"StatefulSet/{s.Metadata.Name}", s.Spec.Template.Spec, s.Spec.Template.Metadata); break;
                case V1DaemonSet ds: yield return ($"DaemonSet/{ds.Metadata.Name}", ds.Spec.Template.Spec, ds.Spec.Template.Metadata); break;
                case V1Job j: yield return ($"Job/{j.Metadata.Name}", j.Spec.Template.Spec, j.Spec.Template.Metadata); break;
                case V1CronJob cj: yield return ($"CronJob/{cj.Metadata.Name}", cj.Spec.JobTemplate.Spec.Template.Spec, cj.Spec.JobTemplate.Spec.Template.Metadata); break;
                case V1Pod p: yield return ($"Pod/{p.Metadata.Name}", p.Spec, p.Metadata); break;
                case V1ReplicaSet rs: yield return ($"ReplicaSet/{rs.Metadata.Name}", rs.Spec.Template.Spec, rs.Spec.Template.Metadata); break;
            }
        }
    }

    /// <summary>Every container and init container, with its workload.</summary>
    public IEnumerable<(string Owner, V1Container Container)> Containers() =>
        PodSpecs().SelectMany(p => (p.Spec.Containers ?? []).Concat(p.Spec.InitContainers ?? []).Select(c => (p.Owner, c)));

    /// <summary>The container's command and args as one command line.</summary>
    public static IReadOnlyList<string> CommandLine(V1Container c) => [.. c.Command ?? [], .. c.Args ?? []];

    /// <summary>
    /// The command line as the kubelet runs it: each <c>$(NAME)</c> replaced by the container's variable (a literal or a
    /// rendered ConfigMap's value); one that does not resolve fails the test, since the kubelet would pass it as typed.
    /// </summary>
    public IReadOnlyList<string> ExpandedCommandLine(V1Container c) =>
        [.. CommandLine(c).Select(a => System.Text.RegularExpressions.Regex.Replace(a, @"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", m =>
            EnvValue(c, m.Groups[1].Value)
            ?? throw new Xunit.Sdk.XunitException($"container {c.Name}: {m.Value} in its command line does not resolve")))];

    /// <summary>The env var's value as the pod would see it, where it is a literal or comes from a rendered ConfigMap; else null.</summary>
    public string? EnvValue(V1Container c, string name)
    {
        var env = c.Env?.SingleOrDefault(e => e.Name == name);
        if (env is null) return null;
        if (env.ValueFrom?.ConfigMapKeyRef is { } r)
        {
            var cm = All<V1ConfigMap>().SingleOrDefault(m => m.Metadata.Name == r.Name);
            return cm?.Data is { } data && data.TryGetValue(r.Key, out var v) ? v : null;
        }
        return env.ValueFrom is null ? env.Value : null;
    }

    /// <summary>A container port by number or by name.</summary>
    public static int ResolvePort(V1Container c, IntOrString port) =>
        int.TryParse(port.Value, out int n) ? n
        : c.Ports?.SingleOrDefault(p => p.Name == port.Value)?.ContainerPort
          ?? throw new Xunit.Sdk.XunitException($"container {c.Name} has no port named {port.Value}");
}
