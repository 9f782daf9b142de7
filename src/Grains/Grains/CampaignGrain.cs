using System.Diagnostics;
using System.Text.Json;
using Magneton.Core.Campaigns;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Magneton.Grains;

/// <summary>A campaign's persisted progress: the outcome of every finished version.</summary>
[GenerateSerializer, Alias("Magneton.CampaignState")]
public sealed class CampaignState
{
    [Id(0)] public CampaignRequest? Request { get; set; }
    /// <summary>Finished versions by index: the job's report without its per-region detail, or its error.</summary>
    [Id(1)] public Dictionary<int, VersionResult> Versions { get; set; } = [];
    [Id(2)] public CampaignReport? Report { get; set; }
    [Id(3)] public int Resumes { get; set; }
    [Id(4)] public string? TraceParent { get; set; }
}

[GenerateSerializer, Alias("Magneton.VersionResult")]
public sealed record VersionResult(
    [property: Id(0)] string JobId,
    [property: Id(1)] ComparisonReport? Report,
    [property: Id(2)] string? Error);

/// <summary>
/// Runs a campaign as one comparison job per version (at most <see cref="CampaignOptions.Parallel"/> at a time), each job a
/// <see cref="IMatchingJobGrain"/> that spreads its own work over the cluster. A finished version's outcome is
/// persisted; a resumed campaign asks unfinished versions' jobs again (Start is idempotent, a job in flight just
/// carries on), so no version is compared twice. Reentrant for the same reason as the job grain.
/// </summary>
[Reentrant]
public sealed class CampaignGrain(
    [PersistentState("campaign", GrainServiceRegistration.JobStorage)] IPersistentState<CampaignState> state,
    ILogger<CampaignGrain> log,
    IOptions<CampaignOptions> options,
    IBundleStore? store = null) : Grain, ICampaignGrain
{
    /// <summary>Comparison jobs in flight at once per campaign.</summary>
    readonly int _parallel = options.Value.Parallel;

    readonly IBundleStore? _store = store;
    readonly Queue<string> _recent = new();
    ProgressWriter<CampaignState>? _progress;
    Task? _loop;
    TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _restored, _started, _running;
    // Why the last run stopped short (storage, a lost run): not persisted, nothing final; the next call retries.
    string? _problem, _missingRun;

    string CampaignId => this.GetPrimaryKeyString();
    ProgressWriter<CampaignState> Progress => _progress ??= new(state, log, "campaign " + CampaignId);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State is { Request: not null, Report: null })
        {
            state.State.Resumes++;
            _restored = state.State.Versions.Count;
            log.LogInformation("campaign {Campaign} resumes with {Done}/{Total} versions done",
                CampaignId, _restored, state.State.Request.Versions.Length);
            EnsureRunning();
        }
        return Task.CompletedTask;
    }

    public async Task<CampaignStatus> Start(CampaignRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Versions.Length == 0) throw new MagnetonInputException("campaign: no versions to compare with the baseline");
        if (!WorkIds.Names(CampaignId, request))
            throw new MagnetonInputException($"campaign {CampaignId}: not the id of this campaign (a campaign of stored runs runs under the id derived from its request)");
        if (state.State.Request is { } existing)
        {
            if (!existing.Equals(request))
                throw new MagnetonInputException($"campaign {CampaignId}: already runs another campaign");
        }
        else
        {
            state.State.Request = request;
            await Progress.SaveNowAsync();
        }
        EnsureRunning();
        return Status();
    }

    public async Task<CampaignStatus> Wait(TimeSpan maxWait)
    {
        if (state.State.Request is null) return Status();
        EnsureRunning();
        await Task.WhenAny(_finished.Task, Task.Delay(maxWait));
        return Status();
    }

    public Task<CampaignStatus> GetStatus() => Task.FromResult(Status());

    public Task<CampaignReport> GetReport() => state.State.Report is { } r
        ? Task.FromResult(r)
        : throw new InvalidOperationException($"campaign {CampaignId} has not finished");

    CampaignStatus Status()
    {
        var s = state.State;
        int total = s.Request?.Versions.Length ?? 0;
        return new CampaignStatus(CampaignId, total, s.Versions.Values.Count(v => v.Error is null),
            s.Versions.Values.Count(v => v.Error is not null), _running, s.Report is not null,
            s.Resumes, _restored, _started, RuntimeIdentity, [.. _recent], _progress?.AllSaved ?? true)
        {
            Problem = s.Report is null ? _problem : null,
            MissingRun = s.Report is null ? _missingRun : null,
        };
    }

    void EnsureRunning()
    {
        if (state.State.Request is null || state.State.Report is not null) return;
        if (_loop is { IsCompleted: false }) return;
        if (_finished.Task.IsCompleted) _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop = RunAsync();
    }

    async Task RunAsync()
    {
        var s = state.State;
        var request = s.Request!;
        using var span = s.TraceParent is { } parent
            ? MagnetonTelemetry.Source.StartActivity("campaign.resume", ActivityKind.Internal, parent)
            : MagnetonTelemetry.Source.StartActivity("campaign");
        span?.SetTag("magneton.campaign.id", CampaignId);
        span?.SetTag("magneton.campaign.versions", request.Versions.Length);
        if (span is not null && s.TraceParent is null) s.TraceParent = span.Id;
        try
        {
            _missingRun = null;
            using var slots = new SemaphoreSlim(_parallel);
            await Task.WhenAll(Enumerable.Range(0, request.Versions.Length).Where(i => !s.Versions.ContainsKey(i)).Select(async i =>
            {
                await slots.WaitAsync();
                try
                {
                    _running++;
                    var result = await CompareVersionAsync(request, i);
                    s.Versions[i] = result;
                    Note(i, result);
                    Progress.SaveSoon();
                }
                finally
                {
                    _running--;
                    slots.Release();
                }
            }));

            var outcomes = s.Versions.OrderBy(kv => kv.Key).Select(kv => new VersionOutcome(kv.Key,
                request.Versions[kv.Key].ToString(), request.Versions[kv.Key].RunId, kv.Value.JobId, kv.Value.Report, kv.Value.Error)).ToList();
            var report = CampaignReportBuilder.Build(request.Baseline.RunId, outcomes, request.Threshold);
            if (_store is not null)
                await Transient.RetryAsync(() => _store.PutReportAsync(CampaignId, JsonSerializer.SerializeToUtf8Bytes(report, ReportJson.Options)),
                    log, $"campaign {CampaignId}: report");
            s.Report = report;
            await Progress.SaveNowAsync();
            _problem = null;
            _finished.TrySetResult();
        }
        catch (Exception e)
        {
            // Storage or the cluster failed beyond the retries, or a run was lost: keep the progress (no version
            // is recorded as failed for it); the next call resumes.
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            log.LogWarning(e, "campaign {Campaign} stopped; the next call resumes it", CampaignId);
            var missing = Transient.MissingRun(e);
            _missingRun = missing?.RunId;
            _problem = missing?.Message ?? (WireErrors.Translate(e) is MagnetonUnavailableException u ? u.Message : $"campaign {CampaignId}: {e.GetType().Name}: {e.Message}");
            _finished.TrySetResult();
        }
    }

    async Task<VersionResult> CompareVersionAsync(CampaignRequest request, int index)
    {
        string jobId = WorkIds.JobOf(CampaignId, request, index);
        var job = GrainFactory.GetGrain<IMatchingJobGrain>(jobId);
        string what = $"campaign {CampaignId}: version {index} ({jobId})";
        _started++;
        var status = await Transient.RetryAsync(() => job.Start(request.Comparison(index)), log, what);
        while (!status.Finished)
        {
            if (status.MissingRun is { } missing) throw new MagnetonUnavailableException(status.Problem ?? $"{RunIds.Typed(missing)}: not in the cluster's store", missing);
            // A job the store forgot (activated anew without its state) waits for a Start, not for time.
            status = status.Phase == JobPhase.New
                ? await Transient.RetryAsync(() => job.Start(request.Comparison(index)), log, what)
                : await Transient.RetryAsync(() => job.Wait(TimeSpan.FromSeconds(5)), log, what);
        }
        if (status.Phase == JobPhase.Failed) return new VersionResult(jobId, null, status.Error);
        var report = (await Transient.RetryAsync(() => job.GetReport(), log, what)).Value;
        // The campaign keeps what its report needs; the full report stays with the job.
        return new VersionResult(jobId, report with { Regions = [], Unmatched = new([], []) }, null);
    }

    /// <summary>A progress line for a version that just finished: "[k/N]" counts the versions finished so far.</summary>
    void Note(int index, VersionResult r)
    {
        var line = $"[{state.State.Versions.Count}/{state.State.Request!.Versions.Length}] " + (r.Error is { } e
            ? $"version {index}: failed: {e}"
            : $"version {index}: {r.Report!.Findings.Count(f => f.Verdict == Verdict.Waste && f.Wasteful == Side.B)} waste finding(s) in the version, "
              + $"energy {r.Report.B.IterationEnergyJ / r.Report.A.IterationEnergyJ:0.000}x the baseline");
        _recent.Enqueue(line);
        while (_recent.Count > 8) _recent.Dequeue();
    }
}
