using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.K8s;

/// <summary>
/// Every overlay renders; where kubectl is on PATH (the project's machine image has it), <c>kubectl kustomize</c> and
/// the test renderer give the same objects, field for field, so the contract tests mean the same with either.
/// </summary>
public sealed class KustomizeRenderTests(ITestOutputHelper output)
{
    public static TheoryData<string> Overlays => new(Kustomize.Overlays);

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_test_renderer_renders_the_overlay_into_typed_objects(string overlay)
    {
        var nodes = Kustomize.Render(Kustomize.Overlay(overlay));
        var typed = k8s.KubernetesYaml.LoadAllFromString(Kustomize.ToYaml(nodes), strict: true);
        Assert.Equal(nodes.Count, typed.Count);
        Assert.All(typed, o => Assert.IsAssignableFrom<k8s.IKubernetesObject>(o));
        var identities = nodes.Select(Kustomize.Identity).ToList();
        Assert.Equal(identities.Count, identities.Distinct().Count());
        output.WriteLine(string.Join('\n', identities.Order()));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Kubectl_kustomize_and_the_test_renderer_give_the_same_objects(string overlay)
    {
        if (Kustomize.Kubectl is null)
        {
            // Not a failure: the contracts are then checked on the test renderer's output alone.
            output.WriteLine("kubectl is not on PATH: compared nothing");
            return;
        }
        var fromKubectl = Kustomize.LoadDocuments(Kustomize.KubectlKustomize(Kustomize.Overlay(overlay)))
            .Cast<YamlDotNet.RepresentationModel.YamlMappingNode>().ToDictionary(Kustomize.Identity);
        var ours = Kustomize.Render(Kustomize.Overlay(overlay)).ToDictionary(Kustomize.Identity);

        Assert.Equal(fromKubectl.Keys.Order(), ours.Keys.Order());
        var differences = fromKubectl.Keys
            .SelectMany(id => Kustomize.Differences(fromKubectl[id], ours[id]).Select(d => $"{id}{d}"))
            .ToList();
        Assert.True(differences.Count == 0, "kubectl kustomize (left) and the test renderer (right) differ:\n" + string.Join('\n', differences));
        output.WriteLine($"{overlay}: {ours.Count} objects, identical from kubectl and from the test renderer");
    }

    [Fact]
    public void Both_overlays_render_the_same_base_workloads()
    {
        var local = RenderedOverlay.Get("local");
        var production = RenderedOverlay.Get("production");
        string[] baseWorkloads = ["Deployment/magneton-silo", "DaemonSet/magneton-worker", "Job/magneton-campaign", "CronJob/magneton-audit"];
        foreach (var w in baseWorkloads)
        {
            Assert.Contains(local.PodSpecs(), p => p.Owner == w);
            Assert.Contains(production.PodSpecs(), p => p.Owner == w);
        }
        // The jobs' command lines are the base's in both: what the local run test runs is what production runs.
        Assert.Equal(RenderedOverlay.CommandLine(local.Campaign.Spec.Template.Spec.Containers[0]),
            RenderedOverlay.CommandLine(production.Campaign.Spec.Template.Spec.Containers[0]));
        Assert.Equal(RenderedOverlay.CommandLine(local.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers[0]),
            RenderedOverlay.CommandLine(production.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers[0]));
        output.WriteLine($"rendered by {local.RenderedBy}");
    }
}
