using System.Text.RegularExpressions;
using k8s.Models;
using Magneton.Client;
using Magneton.Silo;
using Xunit;

namespace Magneton.Tests.K8s;

/// <summary>The contracts of the rendered overlays: what the silo, the GPU worker and the jobs need to run, and no secret in any manifest.</summary>
public sealed partial class ManifestContractTests
{
    public static TheoryData<string> Overlays => new(Kustomize.Overlays);
    const string Gateway = "magneton-gateway:30000";

    // ------------------------------------------------------------------ the silo

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_silo_runs_magneton_silo_with_Orleans_Kubernetes_hosting(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var silo = r.Silo;
        var c = r.SiloContainer;

        Assert.Equal(["magneton", "silo", "--listen", "0.0.0.0"], RenderedOverlay.CommandLine(c));

        // Downward API: the three variables Orleans' Kubernetes hosting reads.
        Assert.Equal("metadata.namespace", c.Env.Single(e => e.Name == "POD_NAMESPACE").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.name", c.Env.Single(e => e.Name == "POD_NAME").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", c.Env.Single(e => e.Name == "POD_IP").ValueFrom.FieldRef.FieldPath);

        // Service and cluster ids: pod labels, read back by the silo.
        var labels = silo.Spec.Template.Metadata.Labels;
        Assert.False(string.IsNullOrWhiteSpace(labels["orleans/serviceId"]));
        Assert.False(string.IsNullOrWhiteSpace(labels["orleans/clusterId"]));
        Assert.Equal("metadata.labels['orleans/serviceId']", c.Env.Single(e => e.Name == "ORLEANS_SERVICE_ID").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.labels['orleans/clusterId']", c.Env.Single(e => e.Name == "ORLEANS_CLUSTER_ID").ValueFrom.FieldRef.FieldPath);

        // Membership on PostgreSQL and blobs on Azure Storage, both from Secrets.
        Assert.NotNull(c.Env.Single(e => e.Name == "MAGNETON_POSTGRES").ValueFrom.SecretKeyRef);
        Assert.NotNull(c.Env.Single(e => e.Name == "MAGNETON_BLOB_CONNECTION").ValueFrom.SecretKeyRef);
        Assert.Equal("1", r.EnvValue(c, "DOTNET_gcServer"));
        // The pod's process starts with the runtime settings a silo would otherwise execute itself again to get.
        foreach (var (name, value) in SiloRuntimeSettings.Settings) Assert.Equal(value, r.EnvValue(c, name));
        // Bundle downloads go to a volume of their own: /tmp is small, a 100k-operator bundle is ~150 MB.
        var cacheMount = Assert.Single(c.VolumeMounts, m => m.MountPath == r.EnvValue(c, SiloArguments.CacheDirVariable));
        var cacheVolume = silo.Spec.Template.Spec.Volumes.Single(v => v.Name == cacheMount.Name);
        Assert.True(cacheVolume.EmptyDir?.SizeLimit?.ToDecimal() >= 8m * 1024 * 1024 * 1024, "the bundle cache holds at least 8 GiB");
        // The cache's bound fits the volume (an emptyDir past its sizeLimit gets the pod evicted), with room for one download.
        var bound = SiloArguments.Parse(["--blob-connection", "UseDevelopmentStorage=true"], name => r.EnvValue(c, name)).CacheMaxBytes;
        Assert.True(bound is > 0 && bound + (2L << 30) <= cacheVolume.EmptyDir!.SizeLimit!.ToDecimal(), $"cache bound {bound} against the volume");

        // Ports: the silo's defaults (11111 silo-to-silo, 30000 gateway).
        Assert.Equal(SiloHostOptions.DefaultSiloPort, c.Ports.Single(p => p.Name == "silo").ContainerPort);
        Assert.Equal(SiloHostOptions.DefaultGatewayPort, c.Ports.Single(p => p.Name == "gateway").ContainerPort);

        // Probes: TCP (there is no HTTP endpoint), readiness on the gateway, liveness on the silo port.
        Assert.NotNull(c.ReadinessProbe?.TcpSocket);
        Assert.Equal(SiloHostOptions.DefaultGatewayPort, RenderedOverlay.ResolvePort(c, c.ReadinessProbe.TcpSocket.Port));
        Assert.NotNull(c.LivenessProbe?.TcpSocket);
        Assert.Equal(SiloHostOptions.DefaultSiloPort, RenderedOverlay.ResolvePort(c, c.LivenessProbe.TcpSocket.Port));
        Assert.True(c.LivenessProbe.PeriodSeconds >= 5);
        // Liveness must not kill a silo that is still starting: a startup probe or a generous delay covers the start.
        int startupWindow = c.StartupProbe is { } sp
            ? (sp.PeriodSeconds ?? 10) * (sp.FailureThreshold ?? 3) + (sp.InitialDelaySeconds ?? 0)
            : c.LivenessProbe.InitialDelaySeconds ?? 0;
        Assert.True(startupWindow >= 30, $"the silo gets {startupWindow} s to start before liveness counts");
        Assert.True((c.LivenessProbe.PeriodSeconds ?? 10) * (c.LivenessProbe.FailureThreshold ?? 3) >= 30,
            "liveness tolerates at least 30 s of an unresponsive silo port (a long GC or a busy node)");

        AssertRequestsAndLimits(c);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_silo_uses_its_service_account_and_only_it_mounts_a_token(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var spec = r.Silo.Spec.Template.Spec;
        var account = r.One<V1ServiceAccount>(spec.ServiceAccountName);
        Assert.Equal("magneton-silo", account.Metadata.Name);
        Assert.True(spec.AutomountServiceAccountToken);

        // The binding gives that account the Role, in the same namespace.
        var binding = Assert.Single(r.All<V1RoleBinding>());
        Assert.Equal("Role", binding.RoleRef.Kind);
        var role = r.One<V1Role>(binding.RoleRef.Name);
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", account.Metadata.Name, account.Metadata.NamespaceProperty),
            (subject.Kind, subject.Name, subject.NamespaceProperty));
        Assert.Equal(account.Metadata.NamespaceProperty, role.Metadata.NamespaceProperty);

        // No other workload talks to the API server.
        foreach (var (owner, pod, _) in r.PodSpecs().Where(p => p.Owner != "Deployment/magneton-silo"))
            Assert.True(pod.AutomountServiceAccountToken == false, $"{owner} mounts a service account token it does not need");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_gateway_service_and_the_disruption_budget_select_the_silos(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var podLabels = r.Silo.Spec.Template.Metadata.Labels;

        var service = r.One<V1Service>("magneton-gateway");
        Assert.All(service.Spec.Selector, kv => Assert.Equal(kv.Value, podLabels[kv.Key]));
        var port = Assert.Single(service.Spec.Ports);
        Assert.Equal(30000, port.Port);
        Assert.Equal(SiloHostOptions.DefaultGatewayPort, RenderedOverlay.ResolvePort(r.SiloContainer, port.TargetPort));

        var pdb = Assert.Single(r.All<V1PodDisruptionBudget>());
        Assert.All(pdb.Spec.Selector.MatchLabels, kv => Assert.Equal(kv.Value, podLabels[kv.Key]));
        // It protects the cluster and still lets a drain go on: at least one silo may go at a time.
        int replicas = r.Silo.Spec.Replicas ?? 1;
        if (pdb.Spec.MaxUnavailable is { } maxUnavailable) Assert.Equal("1", maxUnavailable.Value);
        else Assert.True(int.Parse(pdb.Spec.MinAvailable.Value) < replicas, "minAvailable blocks every drain");

        // Every workload's selector selects its own pods.
        foreach (var d in r.All<V1Deployment>())
            Assert.All(d.Spec.Selector.MatchLabels, kv => Assert.Equal(kv.Value, d.Spec.Template.Metadata.Labels[kv.Key]));
        foreach (var s in r.All<V1StatefulSet>())
            Assert.All(s.Spec.Selector.MatchLabels, kv => Assert.Equal(kv.Value, s.Spec.Template.Metadata.Labels[kv.Key]));
        foreach (var ds in r.All<V1DaemonSet>())
            Assert.All(ds.Spec.Selector.MatchLabels, kv => Assert.Equal(kv.Value, ds.Spec.Template.Metadata.Labels[kv.Key]));
        // Every service selects some pods.
        foreach (var svc in r.All<V1Service>())
            Assert.Contains(r.PodSpecs(), p => p.TemplateMeta?.Labels is { } l && svc.Spec.Selector.All(kv => l.TryGetValue(kv.Key, out var v) && v == kv.Value));
    }

    [Fact]
    public void Local_runs_one_to_three_small_silos_and_production_at_least_three()
    {
        var local = RenderedOverlay.Get("local");
        Assert.InRange(local.Silo.Spec.Replicas ?? 1, 1, 3);
        var requests = local.SiloContainer.Resources.Requests;
        Assert.True(requests["cpu"].ToDecimal() <= 0.25m, $"local silo requests {requests["cpu"]} CPU");
        Assert.True(requests["memory"].ToDecimal() <= 512m * 1024 * 1024, $"local silo requests {requests["memory"]} memory");

        var production = RenderedOverlay.Get("production");
        Assert.True(production.Silo.Spec.Replicas >= 3);
        Assert.NotEmpty(production.Silo.Spec.Template.Spec.TopologySpreadConstraints);
        // A released image, not :latest.
        foreach (var (owner, c) in production.Containers())
            Assert.False(c.Image.EndsWith(":latest", StringComparison.Ordinal) || !c.Image.Contains(':'), $"{owner} runs {c.Image}");
    }

    // ------------------------------------------------------------------ RBAC

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_role_allows_only_what_Orleans_hosting_needs_on_pods(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        Assert.Empty(r.All<V1ClusterRole>());
        Assert.Empty(r.All<V1ClusterRoleBinding>());
        var role = Assert.Single(r.All<V1Role>());
        var rule = Assert.Single(role.Rules);
        Assert.Equal([""], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["delete", "get", "list", "patch", "watch"], rule.Verbs.Order());
        Assert.Null(rule.ResourceNames);
        Assert.Null(rule.NonResourceURLs);

        // No wildcard in any rule of any Role or ClusterRole.
        var rules = r.All<V1Role>().SelectMany(x => x.Rules).Concat(r.All<V1ClusterRole>().SelectMany(x => x.Rules ?? []));
        foreach (var x in rules)
            Assert.DoesNotContain(
                (x.ApiGroups ?? []).Concat(x.Resources ?? []).Concat(x.Verbs ?? []).Concat(x.ResourceNames ?? []).Concat(x.NonResourceURLs ?? []),
                s => s.Contains('*'));
    }

    // ------------------------------------------------------------------ secrets

    static readonly string[] SecretWords = ["CONNECTION", "POSTGRES", "KEY", "PASSWORD", "SECRET", "TOKEN"];

    /// <summary>
    /// The throwaway PostgreSQL's own first-start settings (the official image's variables): a user name, a database
    /// name and trust authentication, none of them a secret. Their values are checked below.
    /// </summary>
    static readonly Dictionary<string, string> PostgresImageSettings = new()
    {
        ["POSTGRES_USER"] = "orleans",
        ["POSTGRES_DB"] = "magneton",
        ["POSTGRES_HOST_AUTH_METHOD"] = "trust",
    };

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_credential_comes_from_a_secret_reference(string overlay)
    {
        const string TlsMount = "/etc/magneton/tls";
        var r = RenderedOverlay.Get(overlay);
        Assert.Empty(r.All<V1Secret>()); // Secrets are created by hand (k8s/README.md), never rendered from the repo.
        int checkedVars = 0;
        foreach (var (owner, c) in r.Containers())
        {
            foreach (var env in c.Env ?? [])
            {
                if (!SecretWords.Any(w => env.Name.Contains(w, StringComparison.OrdinalIgnoreCase))) continue;
                checkedVars++;
                if (c.Image.StartsWith("postgres:", StringComparison.Ordinal) && PostgresImageSettings.TryGetValue(env.Name, out var expected))
                {
                    Assert.Equal(expected, env.Value);
                    continue;
                }
                // TLS material is a file of a Secret volume, named by its path.
                if (env.Name.StartsWith("MAGNETON_TLS_", StringComparison.Ordinal) && env.Value?.StartsWith(TlsMount + "/", StringComparison.Ordinal) == true)
                {
                    Assert.Contains(c.VolumeMounts, m => m.MountPath == TlsMount && m.ReadOnlyProperty == true);
                    continue;
                }
                Assert.True(env.ValueFrom?.SecretKeyRef is not null, $"{owner}/{c.Name}: {env.Name} is not from a secretKeyRef");
                Assert.Null(env.Value);
            }
            // envFrom could bring in a connection string from a ConfigMap: only Secrets there.
            foreach (var from in c.EnvFrom ?? [])
                Assert.True(from.SecretRef is not null, $"{owner}/{c.Name}: envFrom other than a Secret");
            Assert.DoesNotContain(c.Env ?? [], e => e.Name.Contains("PASSWORD", StringComparison.OrdinalIgnoreCase) && e.ValueFrom?.SecretKeyRef is null);
        }
        Assert.True(checkedVars >= 2);

        // Every Secret a workload needs (not optional) is one k8s/README.md tells how to create.
        string readme = File.ReadAllText(Path.Combine(Kustomize.K8sRoot, "README.md"));
        var required = r.Containers().SelectMany(x => x.Container.Env ?? [])
            .Select(e => e.ValueFrom?.SecretKeyRef).Where(s => s is not null && s.Optional != true)
            .Select(s => s!.Name).Distinct().ToList();
        Assert.Equal(["magneton-blob", "magneton-postgres"], required.Order());
        foreach (var name in required)
            Assert.Matches($@"create secret generic {Regex.Escape(name)}\b", readme);
    }

    [GeneratedRegex(@"[A-Za-z0-9+/]{40,}={0,2}")]
    private static partial Regex LongBase64();
    [GeneratedRegex(@"\b[0-9a-fA-F]{32,}\b")]
    private static partial Regex LongHex();
    [GeneratedRegex(@"(AccountKey|Password|Pwd|SharedAccessSignature|SharedAccessKey|sig|client_secret|api[_-]?key)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex KeyAssignment();
    [GeneratedRegex(@"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}|\beyJ[A-Za-z0-9_-]{10,}\.")]
    private static partial Regex KnownTokenShapes();

    [Fact]
    public void No_manifest_holds_anything_that_looks_like_a_key()
    {
        // The sources (every YAML file under k8s/) and what they render to.
        var texts = Directory.EnumerateFiles(Kustomize.K8sRoot, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Select(f => (Where: Path.GetRelativePath(Kustomize.K8sRoot, f), Text: File.ReadAllText(f)))
            .Concat(Kustomize.Overlays.Select(o => (Where: $"rendered overlays/{o}", Text: RenderedOverlay.Get(o).Yaml)))
            .ToList();
        Assert.True(texts.Count >= 10);
        foreach (var (where, text) in texts)
        {
            foreach (var regex in new[] { LongBase64(), LongHex(), KeyAssignment(), KnownTokenShapes() })
            {
                var m = regex.Match(text);
                Assert.False(m.Success, $"{where}: '{m.Value}' looks like a key or a credential");
            }
        }
    }

    // ------------------------------------------------------------------ GPU worker

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_gpu_worker_runs_on_gpu_nodes_with_a_gpu_and_nvml(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var spec = r.Worker.Spec.Template.Spec;
        var c = Assert.Single(spec.Containers);

        Assert.Equal(["magneton", "worker", "--cluster", Gateway, "--workloads", "/etc/magneton/workloads/workloads.json"], RenderedOverlay.CommandLine(c));
        // The workload file is the ConfigMap's, mounted read-only; it parses as a workload file.
        Assert.Contains(c.VolumeMounts, m => m.MountPath == "/etc/magneton/workloads" && m.ReadOnlyProperty == true);
        Assert.Contains(spec.Volumes, v => v.Name == "workloads" && v.ConfigMap?.Name == "magneton-workloads");
        var workloads = Magneton.GpuWorker.Capture.WorkloadFile.Parse(r.One<V1ConfigMap>("magneton-workloads").Data["workloads.json"], "magneton-workloads");
        Assert.Contains("gpt2-gelu", workloads.Keys);

        // GPU nodes only: a node selector, or a required node affinity, on nvidia.com/gpu.present=true.
        bool selected = spec.NodeSelector?.TryGetValue("nvidia.com/gpu.present", out var v) == true && v == "true";
        bool affinity = spec.Affinity?.NodeAffinity?.RequiredDuringSchedulingIgnoredDuringExecution?.NodeSelectorTerms
            .All(t => t.MatchExpressions.Any(e => e.Key == "nvidia.com/gpu.present" && e.OperatorProperty == "In" && e.Values.SequenceEqual(["true"]))) == true;
        Assert.True(selected || affinity, "the worker does not select GPU nodes");
        Assert.Contains(spec.Tolerations, t => t.Key == "nvidia.com/gpu" && t.OperatorProperty == "Exists");

        Assert.Equal(1m, c.Resources.Limits["nvidia.com/gpu"].ToDecimal());
        if (c.Resources.Requests?.TryGetValue("nvidia.com/gpu", out var req) == true) Assert.Equal(1m, req.ToDecimal());

        // NVML: the host's libnvidia-ml.so.1, mounted read-only from the host or injected by the NVIDIA runtime
        // ("utility" driver capability).
        var hostLib = (spec.Volumes ?? []).FirstOrDefault(vol => vol.HostPath?.Path.Contains("libnvidia-ml", StringComparison.Ordinal) == true);
        string capabilities = r.EnvValue(c, "NVIDIA_DRIVER_CAPABILITIES") ?? "";
        bool injected = capabilities.Split(',').Any(x => x.Trim() is "utility" or "all");
        bool mounted = hostLib is not null && c.VolumeMounts.Any(m => m.Name == hostLib.Name && m.ReadOnlyProperty == true);
        Assert.True(injected || mounted, "the worker neither mounts libnvidia-ml read-only nor asks the NVIDIA runtime for it");
        // Not NVIDIA_VISIBLE_DEVICES=all: that would hand the worker every GPU of the node, not the one it was given.
        Assert.NotEqual("all", r.EnvValue(c, "NVIDIA_VISIBLE_DEVICES"));

        AssertRequestsAndLimits(c);
    }

    // ------------------------------------------------------------------ campaign Job and audit CronJob

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_campaign_job_captures_the_config_maps_versions_and_runs_the_campaign(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var job = r.Campaign;
        var spec = job.Spec.Template.Spec;
        var c = Assert.Single(spec.Containers);
        var line = r.ExpandedCommandLine(c);

        Assert.Equal(["magneton", "campaign"], line.Take(2));
        AssertOption(line, "--cluster", Gateway);
        Assert.Contains("--capture", line);
        AssertParses(line);
        // The versions come from the ConfigMap magneton-jobs: NAME=WORKLOAD [ARGS], workloads the workers allow.
        var versions = line.Select((a, i) => (a, i)).Where(x => x.a is "--baseline" or "--version").Select(x => line[x.i + 1]).ToList();
        Assert.True(versions.Count >= 3, string.Join(' ', line));
        AssertAllowedWorkloads(r, versions.Select(v => v[(v.IndexOf('=') + 1)..].Split(' ')[0]));
        AssertJsonUnderAVolume(line, c, "campaign.json");
        Assert.Equal("Never", spec.RestartPolicy);
        Assert.NotNull(job.Spec.BackoffLimit);
        // A campaign runs when asked: applying the overlay does not start one.
        Assert.True(job.Spec.Suspend);
        AssertRequestsAndLimits(c);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void The_audit_cronjob_captures_the_config_maps_workload_on_every_gpu_node_each_night(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var cron = r.Audit;
        var spec = cron.Spec.JobTemplate.Spec.Template.Spec;
        var c = Assert.Single(spec.Containers);
        var line = r.ExpandedCommandLine(c);

        Assert.Equal(["magneton", "audit"], line.Take(2));
        AssertOption(line, "--cluster", Gateway);
        Assert.Contains("--capture", line);
        AssertOption(line, "--nodes", "all");
        AssertOption(line, "--gpus", "all");
        AssertParses(line);
        AssertAllowedWorkloads(r, [line[line.ToList().IndexOf("--workload") + 1].Split(' ')[0]]);
        AssertJsonUnderAVolume(line, c, "audit.json");
        Assert.Equal("Never", spec.RestartPolicy);
        // No placeholders to fill in: it runs as rendered.
        Assert.NotEqual(true, cron.Spec.Suspend);

        Assert.Equal(5, cron.Spec.Schedule.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("Forbid", cron.Spec.ConcurrencyPolicy);
        Assert.InRange(cron.Spec.SuccessfulJobsHistoryLimit ?? -1, 1, 10);
        Assert.InRange(cron.Spec.FailedJobsHistoryLimit ?? -1, 1, 10);
        Assert.NotNull(cron.Spec.StartingDeadlineSeconds);
        AssertRequestsAndLimits(c);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void No_manifest_holds_a_placeholder_run_id(string overlay) =>
        Assert.DoesNotMatch(@"run:[A-Z][A-Z0-9_]*\b", RenderedOverlay.Get(overlay).Yaml);

    /// <summary>The command line parses with the real CLI definitions (the one-line usage error otherwise).</summary>
    static void AssertParses(IReadOnlyList<string> line)
    {
        var root = Magneton.Client.Cli.Root(TextWriter.Null, TextWriter.Null);
        var pr = Magneton.Client.Cli.Parse(root, [.. line.Skip(1)]);
        Assert.Empty(pr.Errors);
        Assert.Equal(line[1], pr.CommandResult.Command.Name);
    }

    /// <summary>Each workload is one the workers' workload file (the ConfigMap magneton-workloads) names.</summary>
    static void AssertAllowedWorkloads(RenderedOverlay r, IEnumerable<string> workloads)
    {
        var file = r.One<V1ConfigMap>("magneton-workloads").Data["workloads.json"];
        var allowed = Magneton.GpuWorker.Capture.WorkloadFile.Parse(file, "workloads.json").Keys.ToHashSet();
        foreach (var w in workloads) Assert.True(allowed.Contains(w), $"workload {w} is not in magneton-workloads ({string.Join(", ", allowed)})");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Clients_use_the_silos_cluster_and_service_ids(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var labels = r.Silo.Spec.Template.Metadata.Labels;
        var clients = new[]
        {
            r.Worker.Spec.Template.Spec.Containers[0],
            r.Campaign.Spec.Template.Spec.Containers[0],
            r.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers[0],
        };
        foreach (var c in clients)
        {
            Assert.Equal(labels["orleans/clusterId"], r.EnvValue(c, "MAGNETON_CLUSTER_ID"));
            Assert.Equal(labels["orleans/serviceId"], r.EnvValue(c, "MAGNETON_SERVICE_ID"));
        }
    }

    // ------------------------------------------------------------------ telemetry and local services

    [Theory]
    [MemberData(nameof(Overlays))]
    public void OTLP_is_configured_from_the_overlays_config_map_on_the_silo_worker_and_jobs(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        var targets = new (string Owner, V1Container C)[]
        {
            ("silo", r.SiloContainer),
            ("worker", r.Worker.Spec.Template.Spec.Containers[0]),
            ("campaign", r.Campaign.Spec.Template.Spec.Containers[0]),
            ("audit", r.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers[0]),
        };
        var endpoints = new HashSet<string>();
        foreach (var (owner, c) in targets)
        {
            var env = c.Env.Single(e => e.Name == "OTEL_EXPORTER_OTLP_ENDPOINT");
            Assert.True(env.ValueFrom?.ConfigMapKeyRef is not null, $"{owner}: OTEL_EXPORTER_OTLP_ENDPOINT is not from a ConfigMap");
            string? endpoint = r.EnvValue(c, "OTEL_EXPORTER_OTLP_ENDPOINT");
            Assert.True(Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https", $"{owner}: '{endpoint}'");
            endpoints.Add(endpoint!);
            Assert.False(string.IsNullOrWhiteSpace(r.EnvValue(c, "OTEL_SERVICE_NAME")), owner);
        }
        var only = Assert.Single(endpoints);
        var host = new Uri(only).Host;
        Assert.NotEqual("localhost", host);
        if (overlay == "production")
            Assert.Contains("collector", host);
        else
        {
            // The local overlay brings its own collector: the endpoint is a Service of the overlay, on its port.
            var svc = r.One<V1Service>(host.Split('.')[0]);
            Assert.Contains(svc.Spec.Ports, p => p.Port == new Uri(only).Port);
        }

        // Every non-optional ConfigMap reference resolves in the rendered overlay.
        foreach (var (owner, c) in r.Containers())
            foreach (var env in c.Env ?? [])
                if (env.ValueFrom?.ConfigMapKeyRef is { Optional: not true } cm)
                    Assert.True(r.EnvValue(c, env.Name) is not null, $"{owner}/{c.Name}: {env.Name} names {cm.Name}/{cm.Key}, which is not rendered");
    }

    [Fact]
    public void The_local_overlay_brings_postgres_and_azurite_and_production_brings_neither()
    {
        var local = RenderedOverlay.Get("local");
        var pg = local.Containers().Single(x => x.Container.Image.StartsWith("postgres:", StringComparison.Ordinal)).Container;
        Assert.Equal("trust", local.EnvValue(pg, "POSTGRES_HOST_AUTH_METHOD"));
        Assert.DoesNotContain(pg.Env, e => e.Name.Contains("PASSWORD", StringComparison.Ordinal));
        Assert.Contains(local.One<V1Service>("magneton-postgres").Spec.Ports, p => p.Port == 5432);

        var (azuriteOwner, azurite) = local.Containers().Single(x => x.Container.Image.StartsWith("mcr.microsoft.com/azure-storage/azurite", StringComparison.Ordinal));
        Assert.StartsWith("Deployment/", azuriteOwner);
        var line = RenderedOverlay.CommandLine(azurite);
        Assert.Equal("azurite-blob", line[0]);
        Assert.Contains("--disableTelemetry", line);
        Assert.Contains("--skipApiVersionCheck", line);
        AssertOption(line, "--blobHost", "0.0.0.0");
        Assert.Contains(local.One<V1Service>("magneton-azurite").Spec.Ports, p => p.Port == 10000);

        var production = RenderedOverlay.Get("production");
        Assert.DoesNotContain(production.Containers(), x => x.Container.Image.StartsWith("postgres:", StringComparison.Ordinal)
                                                          || x.Container.Image.Contains("azurite", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Every_magneton_container_runs_the_kustomize_image_as_a_non_root_user(string overlay)
    {
        var r = RenderedOverlay.Get(overlay);
        string? image = null;
        foreach (var (owner, pod, _) in r.PodSpecs())
        {
            foreach (var c in pod.Containers.Where(c => c.Command?.FirstOrDefault() == "magneton"))
            {
                image ??= c.Image;
                Assert.Equal(image, c.Image);
                Assert.Equal("IfNotPresent", c.ImagePullPolicy);
                Assert.True(pod.SecurityContext?.RunAsNonRoot == true, $"{owner} may run as root");
                Assert.False(c.SecurityContext?.AllowPrivilegeEscalation ?? true, $"{owner}/{c.Name} allows privilege escalation");
            }
        }
        Assert.NotNull(image);
        Assert.Equal(4, r.PodSpecs().Count(p => p.Spec.Containers.Any(c => c.Command?.FirstOrDefault() == "magneton")));
        Assert.All(r.Objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace),
            o => Assert.Equal("magneton", o.Metadata.NamespaceProperty));
    }

    // ------------------------------------------------------------------ helpers

    static void AssertRequestsAndLimits(V1Container c)
    {
        foreach (var resource in new[] { "cpu", "memory" })
        {
            Assert.True(c.Resources?.Requests?.ContainsKey(resource) == true, $"{c.Name}: no {resource} request");
            Assert.True(c.Resources?.Limits?.ContainsKey(resource) == true, $"{c.Name}: no {resource} limit");
            Assert.True(c.Resources.Requests[resource].ToDecimal() <= c.Resources.Limits[resource].ToDecimal(),
                $"{c.Name}: {resource} request {c.Resources.Requests[resource]} over its limit {c.Resources.Limits[resource]}");
        }
    }

    static void AssertOption(IReadOnlyList<string> line, string option, string value)
    {
        int i = line.ToList().IndexOf(option);
        Assert.True(i >= 0 && i + 1 < line.Count, $"no {option} in '{string.Join(' ', line)}'");
        Assert.Equal(value, line[i + 1]);
    }

    /// <summary>The --json file is written under a volume the container mounts (the root file system is read-only).</summary>
    static void AssertJsonUnderAVolume(IReadOnlyList<string> line, V1Container c, string fileName)
    {
        int i = line.ToList().IndexOf("--json");
        Assert.True(i >= 0 && i + 1 < line.Count, $"no --json in '{string.Join(' ', line)}'");
        string path = line[i + 1];
        Assert.Equal(fileName, Path.GetFileName(path));
        Assert.Contains(c.VolumeMounts ?? [], m => path.StartsWith(m.MountPath.TrimEnd('/') + "/", StringComparison.Ordinal) && m.ReadOnlyProperty != true);
    }
}
