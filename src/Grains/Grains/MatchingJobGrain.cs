using System.Diagnostics;
using System.Text.Json;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace Magneton.Grains;

/// <summary>A job's persisted progress: enough to resume on another silo without redoing finished steps.</summary>
[GenerateSerializer, Alias("Magneton.JobState")]
public sealed class JobState
{
    [Id(0)] public CompareRequest? Request { get; set; }
    [Id(1)] public JobPhase Phase { get; set; }
    [Id(2)] public int SegmentsTotal { get; set; }
    /// <summary>Regions of each matched segment, by segment index. Dropped once the report exists.</summary>
    [Id(3)] public Dictionary<int, RegionMatch[]> Segments { get; set; } = [];
    [Id(4)] public int FindingsTotal { get; set; }
    /// <summary>Cause of each diagnosed finding, by finding index. Dropped once the report exists.</summary>
    [Id(5)] public Dictionary<int, CauseReport> Causes { get; set; } = [];
    [Id(6)] public ComparisonReport? Report { get; set; }
    [Id(7)] public string? Error { get; set; }
    /// <summary>Activations that found the job unfinished and took it up again.</summary>
    [Id(8)] public int Resumes { get; set; }
    /// <summary>The job span's W3C id, so a resumed job's spans join the same trace.</summary>
    [Id(9)] public string? TraceParent { get; set; }
    [Id(10)] public DateTimeOffset StartedAt { get; set; }
    /// <summary>The build that computed the progress (<see cref="WorkIds.CodeVersion"/>); another build starts over.</summary>
    [Id(20)] public string? Code { get; set; }
}

/// <summary>
/// Runs one comparison as a sequence of idempotent steps whose results are persisted as they finish: ingest
/// (run grains), session preparation (silo-local, deterministic, so it is simply redone), segment matching
/// (one random-placed grain per segment, results kept per segment), detection (recomputed), diagnosis (one
/// grain per finding, causes kept per finding) and the report (kept, and written to the bundle store).
/// Reentrant: <see cref="Wait"/> and <see cref="GetStatus"/> answer while the steps run; only the step loop
/// changes the state.
/// </summary>
[Reentrant]
public sealed class MatchingJobGrain(
    [PersistentState("job", GrainServiceRegistration.JobStorage)] IPersistentState<JobState> state,
    SessionCache sessions,
    MagnetonCounters counters,
    ILogger<MatchingJobGrain> log,
    IServiceProvider services) : Grain, IMatchingJobGrain
{
    readonly IBundleStore? _store = services.GetService(typeof(IBundleStore)) as IBundleStore;
    ProgressWriter<JobState>? _progress;
    Task? _loop;
    TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    CancellationTokenSource _cancel = new();
    int _restored, _dispatched;
    // Why the last step loop stopped short of an end, while nothing final is known (not persisted: a new activation
    // simply tries again). A lost run and a cancel wait for a new Start; a problem is retried at the next poll.
    string? _problem, _missingRun;
    bool _cancelled;

    string JobId => this.GetPrimaryKeyString();
    ProgressWriter<JobState> Progress => _progress ??= new(state, log, "job " + JobId);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var s = state.State;
        if (s.Request is not null && s.Code != WorkIds.CodeVersion)
        {
            log.LogInformation("job {Job} was computed by another build; it starts over", JobId);
            s.Phase = JobPhase.Ingesting;
            s.Report = null;
            s.Error = null;
            s.SegmentsTotal = s.FindingsTotal = 0;
            s.Segments = [];
            s.Causes = [];
            s.Code = WorkIds.CodeVersion;
        }
        if (s.Request is not null && s.Phase is not (JobPhase.Done or JobPhase.Failed))
        {
            s.Resumes++;
            _restored = s.Segments.Count;
            log.LogInformation("job {Job} resumes in phase {Phase} with {Segments}/{Total} segments matched",
                JobId, s.Phase, s.Segments.Count, s.SegmentsTotal);
            EnsureRunning();
        }
        return Task.CompletedTask;
    }

    public async Task<JobStatus> Start(CompareRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Refused before anything is stored: a request under another request's id cannot occupy that job.
        if (!WorkIds.Names(JobId, request))
            throw new MagnetonInputException($"job {JobId}: not the id of this comparison (a job of stored runs runs under the id derived from its request)");
        if (state.State.Request is { } existing)
        {
            // Only jobs of local paths (fresh random ids) get here with another request: a caller's own mistake.
            if (existing != request)
                throw new MagnetonInputException($"job {JobId}: already runs another comparison ({existing.A} vs {existing.B})");
        }
        else
        {
            state.State.Request = request;
            state.State.Phase = JobPhase.Ingesting;
            state.State.StartedAt = DateTimeOffset.UtcNow;
            state.State.Code = WorkIds.CodeVersion;
            await Progress.SaveNowAsync();
        }
        _cancelled = false;
        _missingRun = null;
        EnsureRunning();
        return Status();
    }

    public async Task<JobStatus> Wait(TimeSpan maxWait)
    {
        if (state.State.Request is null) return Status();
        if (!_cancelled && _missingRun is null) EnsureRunning();
        await Task.WhenAny(_finished.Task, Task.Delay(maxWait));
        return Status();
    }

    public Task<JobStatus> GetStatus() => Task.FromResult(Status());

    public Task<JobStatus> Cancel()
    {
        if (!Status().Finished)
        {
            _cancelled = true;
            _cancel.Cancel();
            log.LogInformation("job {Job} cancelled by its client", JobId);
        }
        return Task.FromResult(Status());
    }

    public Task<ComparisonReport> GetReport() => state.State switch
    {
        { Phase: JobPhase.Done, Report: { } report } => Task.FromResult(report),
        { Phase: JobPhase.Failed, Error: var error } => throw new MagnetonInputException(error ?? $"job {JobId} failed"),
        _ => throw new InvalidOperationException($"job {JobId} has not finished (phase {state.State.Phase})"),
    };

    public async Task<ComparisonReport> Compare(CompareRequest request)
    {
        await Start(request);
        while (true)
        {
            if (_loop is { } loop) await loop;
            var status = Status();
            if (status.Finished) return await GetReport();
            if (status.Problem is { } problem) throw new MagnetonUnavailableException(problem, status.MissingRun);
            await Wait(TimeSpan.FromSeconds(1));
        }
    }

    JobStatus Status()
    {
        var s = state.State;
        return new JobStatus(JobId, s.Request is null ? JobPhase.New : s.Phase, s.SegmentsTotal,
            s.Phase >= JobPhase.Diagnosing ? s.SegmentsTotal : s.Segments.Count,
            s.FindingsTotal, s.Phase == JobPhase.Done ? s.FindingsTotal : s.Causes.Count,
            s.Error, s.Resumes, _restored, _dispatched, RuntimeIdentity, _progress?.AllSaved ?? true)
        {
            Problem = s.Phase is JobPhase.Done or JobPhase.Failed ? null : _problem,
            MissingRun = _missingRun,
            Cancelled = _cancelled,
        };
    }

    /// <summary>Starts the step loop unless it runs or the job has ended; a loop that failed (internal error) is restarted.</summary>
    void EnsureRunning()
    {
        if (state.State.Request is null || state.State.Phase is JobPhase.Done or JobPhase.Failed) return;
        if (_loop is { IsCompleted: false }) return;
        if (_finished.Task.IsCompleted) _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_cancel.IsCancellationRequested) _cancel = new();
        _loop = RunStepsAsync(_cancel.Token);
    }

    async Task RunStepsAsync(CancellationToken ct)
    {
        var s = state.State;
        var request = s.Request!;
        var options = request.ToOptions();
        using var job = StartJobSpan(s, request);
        var started = Stopwatch.StartNew();
        try
        {
            using (MagnetonTelemetry.Source.StartActivity("ingest"))
            {
                await Transient.RetryAsync(() => Task.WhenAll(
                    GrainFactory.GetGrain<IRunGrain>(request.A.RunId).Ingest(request.A),
                    GrainFactory.GetGrain<IRunGrain>(request.B.RunId).Ingest(request.B)), log, $"job {JobId}: ingest");
            }
            _problem = null;
            ct.ThrowIfCancellationRequested();

            var matching = Stopwatch.StartNew();
            MatchSession session;
            using (MagnetonTelemetry.Source.StartActivity("prepare"))
                session = await sessions.GetOrPrepareAsync(request.A, request.B, options);
            if (s.Phase < JobPhase.Matching || s.SegmentsTotal != session.Segments.Count)
            {
                s.SegmentsTotal = session.Segments.Count;
                s.Phase = JobPhase.Matching;
                await Progress.SaveNowAsync();
            }

            using (var match = MagnetonTelemetry.Source.StartActivity("match"))
            {
                match?.SetTag("magneton.segments", session.Segments.Count);
                match?.SetTag("magneton.segments.restored", s.Segments.Count);
                var pending = Enumerable.Range(0, session.Segments.Count).Where(i => !s.Segments.ContainsKey(i)).ToList();
                await Task.WhenAll(pending.Select(async i =>
                {
                    ct.ThrowIfCancellationRequested();
                    _dispatched++;
                    var regions = await Transient.RetryAsync(() =>
                        GrainFactory.GetGrain<ISegmentMatcherGrain>($"{JobId}/{i}").Match(request.A, request.B, options, session.Segments[i]),
                        log, $"job {JobId}: segment {i}");
                    s.Segments[i] = regions;
                    Progress.SaveSoon();
                }));
            }

            List<RegionMatch> regions;
            IReadOnlyList<Core.Detection.Finding> findings;
            using (MagnetonTelemetry.Source.StartActivity("detect"))
            {
                regions = RegionMatch.Assemble(session,
                    Enumerable.Range(0, session.Segments.Count).SelectMany(i => s.Segments[i]));
                findings = await Task.Run(() => Pipeline.Detect(session, regions));
            }
            double matchingMs = matching.Elapsed.TotalMilliseconds;
            ct.ThrowIfCancellationRequested();
            if (s.Phase < JobPhase.Diagnosing)
            {
                s.FindingsTotal = findings.Count;
                s.Phase = JobPhase.Diagnosing;
                await Progress.SaveNowAsync();
            }

            using (MagnetonTelemetry.Source.StartActivity("diagnose"))
            {
                var regionArray = regions.ToArray();
                await Task.WhenAll(Enumerable.Range(0, findings.Count).Where(i => !s.Causes.ContainsKey(i)).Select(async i =>
                {
                    var cause = await Transient.RetryAsync(() =>
                        GrainFactory.GetGrain<IDiagnosisGrain>($"{JobId}/{i}").Diagnose(request.A, request.B, options, regionArray, findings[i]),
                        log, $"job {JobId}: finding {i}");
                    s.Causes[i] = cause;
                    Progress.SaveSoon();
                }));
            }

            ComparisonReport report;
            using (MagnetonTelemetry.Source.StartActivity("report"))
            {
                var causes = Enumerable.Range(0, findings.Count).Select(i => s.Causes[i]).ToList();
                report = await Task.Run(() => Pipeline.Report(session, regions, findings, causes, matchingMs));
                if (_store is not null)
                    await Transient.RetryAsync(() => _store.PutReportAsync(JobId, JsonSerializer.SerializeToUtf8Bytes(report, ReportJson.Options)),
                        log, $"job {JobId}: report");
            }

            s.Report = report;
            s.Phase = JobPhase.Done;
            s.Segments = [];
            s.Causes = [];
            await Progress.SaveNowAsync();
            counters.JobRan();
            foreach (var f in report.Findings) MagnetonTelemetry.Findings.Add(1, new KeyValuePair<string, object?>("verdict", f.Verdict));
            MagnetonTelemetry.JobDuration.Record(started.Elapsed.TotalSeconds);
            _finished.TrySetResult();
        }
        catch (MagnetonInputException e)
        {
            job?.SetStatus(ActivityStatusCode.Error, e.Message);
            s.Phase = JobPhase.Failed;
            s.Error = e.Message;
            s.Segments = [];
            s.Causes = [];
            await Progress.SaveNowAsync();
            _finished.TrySetResult();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _finished.TrySetResult();
        }
        catch (Exception e) when (Transient.MissingRun(e) is { } missing)
        {
            // The store lost a run (or never had it): wait for its bundle to be uploaded again and a new Start.
            job?.SetStatus(ActivityStatusCode.Error, missing.Message);
            log.LogWarning("job {Job} waits for run {Run}: {Problem}", JobId, missing.RunId, missing.Message);
            _missingRun = missing.RunId;
            _problem = missing.Message;
            _finished.TrySetResult();
        }
        catch (Exception e)
        {
            // Not the input's fault (storage down, silos lost beyond the retries): keep the progress and let the
            // next call (a polling client, or a new Start) take the job up again.
            job?.SetStatus(ActivityStatusCode.Error, e.Message);
            log.LogWarning(e, "job {Job} stopped in phase {Phase}; the next call resumes it", JobId, s.Phase);
            _problem = WireErrors.Translate(e) is MagnetonUnavailableException u ? u.Message : $"job {JobId}: {e.GetType().Name}: {e.Message}";
            _problem = string.Join(' ', _problem.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            _finished.TrySetResult();
        }
    }

    Activity? StartJobSpan(JobState s, CompareRequest request)
    {
        var span = s.TraceParent is { } parent
            ? MagnetonTelemetry.Source.StartActivity("job.resume", ActivityKind.Internal, parent)
            : MagnetonTelemetry.Source.StartActivity("job");
        span?.SetTag("magneton.job.id", JobId);
        span?.SetTag("magneton.run.a", request.A.RunId);
        span?.SetTag("magneton.run.b", request.B.RunId);
        if (span is not null && s.TraceParent is null) s.TraceParent = span.Id;
        return span;
    }
}
