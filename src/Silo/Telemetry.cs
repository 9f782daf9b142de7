using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Hosting;

namespace Magneton.Silo;

/// <summary>Where a Magneton process sends its traces and metrics.</summary>
public enum TelemetryExport
{
    /// <summary>Nothing is exported (nothing is recorded unless some other listener is attached).</summary>
    None,
    /// <summary>One line per span and per metric point on stderr (stdout stays free for the CLI's output).</summary>
    Console,
    /// <summary>OTLP, configured only by the standard OTEL_EXPORTER_OTLP_* environment variables.</summary>
    Otlp,
}

/// <summary>
/// OpenTelemetry wiring shared by the silo host and the CLI: resource service name, Magneton's and Orleans'
/// activity sources and meters, and the exporter. Orleans only creates grain-call spans when activity
/// propagation is on, on both the silo and the client (<see cref="AddMagnetonTelemetry(ISiloBuilder, TelemetryExport, Action{TracerProviderBuilder}?, Action{MeterProviderBuilder}?)"/>
/// and <see cref="AddMagnetonTelemetry(IClientBuilder, TelemetryExport, Action{TracerProviderBuilder}?, Action{MeterProviderBuilder}?)"/> turn it on).
/// </summary>
public static class MagnetonTelemetryExtensions
{
    public const string SiloServiceName = "magneton-silo";
    public const string CliServiceName = "magneton-cli";
    /// <summary>Orleans' activity sources: Microsoft.Orleans.Runtime, .Application (grain calls), .Lifecycle, .Storage...</summary>
    public const string OrleansActivitySources = "Microsoft.Orleans.*";
    public const string OrleansMeterName = "Microsoft.Orleans";
    /// <summary>The standard variable that selects OTLP by default when it is set.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The export used when none is asked for: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else none.</summary>
    public static TelemetryExport DefaultExport() =>
        string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OtlpEndpointVariable)) ? TelemetryExport.None : TelemetryExport.Otlp;

    /// <summary>Parses "none", "console" or "otlp" (case-insensitive).</summary>
    public static bool TryParseExport(string? text, out TelemetryExport export)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "none": export = TelemetryExport.None; return true;
            case "console": export = TelemetryExport.Console; return true;
            case "otlp": export = TelemetryExport.Otlp; return true;
            default: export = TelemetryExport.None; return false;
        }
    }

    /// <summary>
    /// Registers OpenTelemetry tracing and metrics for Magneton and Orleans with resource service name
    /// <paramref name="serviceName"/> (OTEL_SERVICE_NAME, when set, wins). With <see cref="TelemetryExport.None"/>
    /// and no configure callbacks nothing is registered. The callbacks add to the providers (tests add the
    /// in-memory exporter there).
    /// </summary>
    public static IServiceCollection AddMagnetonTelemetry(this IServiceCollection services, string serviceName, TelemetryExport export,
        Action<TracerProviderBuilder>? configureTracing = null, Action<MeterProviderBuilder>? configureMetrics = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        if (export == TelemetryExport.None && configureTracing is null && configureMetrics is null) return services;

        services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
                    r.AddService(serviceName, serviceVersion: MagnetonVersion);
            })
            .WithTracing(t =>
            {
                t.AddSource(MagnetonTelemetry.ActivitySourceName, OrleansActivitySources);
                switch (export)
                {
                    case TelemetryExport.Otlp: t.AddOtlpExporter(); break; // endpoint, protocol, headers: OTEL_EXPORTER_OTLP_*
                    case TelemetryExport.Console: t.AddProcessor(new SimpleActivityExportProcessor(new StderrSpanExporter())); break;
                }
                configureTracing?.Invoke(t);
            })
            .WithMetrics(m =>
            {
                m.AddMeter(MagnetonTelemetry.MeterName, OrleansMeterName);
                switch (export)
                {
                    case TelemetryExport.Otlp: m.AddOtlpExporter(); break; // interval: OTEL_METRIC_EXPORT_INTERVAL
                    case TelemetryExport.Console:
                        m.AddReader(new PeriodicExportingMetricReader(new StderrMetricExporter(), exportIntervalMilliseconds: 30_000));
                        break;
                }
                configureMetrics?.Invoke(m);
            });
        return services;
    }

    /// <summary>
    /// A silo's telemetry: Orleans activity propagation (grain-call spans, trace context carried across
    /// silos) and <see cref="AddMagnetonTelemetry(IServiceCollection, string, TelemetryExport, Action{TracerProviderBuilder}?, Action{MeterProviderBuilder}?)"/>
    /// as <c>magneton-silo</c>.
    /// </summary>
    public static ISiloBuilder AddMagnetonTelemetry(this ISiloBuilder silo, TelemetryExport export,
        Action<TracerProviderBuilder>? configureTracing = null, Action<MeterProviderBuilder>? configureMetrics = null)
    {
        silo.AddMagnetonActivityPropagation();
        silo.Services.AddMagnetonTelemetry(SiloServiceName, export, configureTracing, configureMetrics);
        return silo;
    }

    /// <summary>
    /// A client's telemetry (the CLI with <c>--cluster</c>): Orleans activity propagation, so the CLI's spans
    /// and the silos' spans form one trace, and telemetry as <c>magneton-cli</c>.
    /// </summary>
    public static IClientBuilder AddMagnetonTelemetry(this IClientBuilder client, TelemetryExport export,
        Action<TracerProviderBuilder>? configureTracing = null, Action<MeterProviderBuilder>? configureMetrics = null)
    {
        client.AddMagnetonActivityPropagation();
        client.Services.AddMagnetonTelemetry(CliServiceName, export, configureTracing, configureMetrics);
        return client;
    }

    /// <summary>Orleans' <c>AddActivityPropagation()</c>, once: calling Orleans' twice adds its call filters twice.</summary>
    public static ISiloBuilder AddMagnetonActivityPropagation(this ISiloBuilder silo)
    {
        if (!HasActivityPropagation(silo.Services)) silo.AddActivityPropagation();
        return silo;
    }

    /// <summary>Orleans' client <c>AddActivityPropagation()</c>, once.</summary>
    public static IClientBuilder AddMagnetonActivityPropagation(this IClientBuilder client)
    {
        if (!HasActivityPropagation(client.Services)) client.AddActivityPropagation();
        return client;
    }

    static bool HasActivityPropagation(IServiceCollection services) =>
        services.Any(d => !d.IsKeyedService && d.ImplementationType?.Name is { } n && n.StartsWith("ActivityPropagation", StringComparison.Ordinal));

    static string MagnetonVersion
    {
        get
        {
            var v = typeof(MagnetonTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            int plus = v.IndexOf('+');
            return plus > 0 ? v[..plus] : v;
        }
    }
}

/// <summary>The console export of spans: one line per finished span on stderr.</summary>
sealed class StderrSpanExporter : BaseExporter<Activity>
{
    public override ExportResult Export(in Batch<Activity> batch)
    {
        var sb = new StringBuilder();
        foreach (var a in batch)
        {
            sb.Clear();
            sb.Append("otel span ").Append(a.Source.Name).Append(" \"").Append(a.DisplayName).Append('"')
              .Append(" kind=").Append(a.Kind)
              .Append(" trace=").Append(a.TraceId.ToHexString())
              .Append(" span=").Append(a.SpanId.ToHexString())
              .Append(" parent=").Append(a.ParentSpanId == default ? "-" : a.ParentSpanId.ToHexString())
              .Append(" ms=").Append(a.Duration.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture));
            if (a.Status != ActivityStatusCode.Unset) sb.Append(" status=").Append(a.Status);
            foreach (var tag in a.TagObjects) sb.Append(' ').Append(tag.Key).Append('=').Append(OneLine(tag.Value));
            System.Console.Error.WriteLine(sb.ToString());
        }
        return ExportResult.Success;
    }

    internal static string OneLine(object? value) =>
        Convert.ToString(value, CultureInfo.InvariantCulture)?.ReplaceLineEndings(" ") ?? "";
}

/// <summary>The console export of metrics: one line per metric point on stderr, every 30 s and at shutdown.</summary>
sealed class StderrMetricExporter : BaseExporter<Metric>
{
    public override ExportResult Export(in Batch<Metric> batch)
    {
        var sb = new StringBuilder();
        foreach (var metric in batch)
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                sb.Clear();
                sb.Append("otel metric ").Append(metric.Name);
                foreach (var tag in point.Tags) sb.Append(' ').Append(tag.Key).Append('=').Append(StderrSpanExporter.OneLine(tag.Value));
                sb.Append(" = ");
                var type = metric.MetricType;
                if (type.IsHistogram())
                    sb.Append("count ").Append(point.GetHistogramCount()).Append(" sum ")
                      .Append(point.GetHistogramSum().ToString("G6", CultureInfo.InvariantCulture));
                else if (type.IsSum())
                    sb.Append(type.IsDouble() ? point.GetSumDouble().ToString("G6", CultureInfo.InvariantCulture) : point.GetSumLong().ToString(CultureInfo.InvariantCulture));
                else if (type.IsGauge())
                    sb.Append(type.IsDouble() ? point.GetGaugeLastValueDouble().ToString("G6", CultureInfo.InvariantCulture) : point.GetGaugeLastValueLong().ToString(CultureInfo.InvariantCulture));
                else
                    sb.Append('?');
                if (!string.IsNullOrEmpty(metric.Unit)) sb.Append(' ').Append(metric.Unit);
                System.Console.Error.WriteLine(sb.ToString());
            }
        }
        return ExportResult.Success;
    }
}
