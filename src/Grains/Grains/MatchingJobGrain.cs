using System.Diagnostics;
using System.Text.Json;
using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Runtime.Placement;

namespace Magneton.Grains;

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
    IOptions<MatchingJobOptions> options,
    IBundleStore? store = null) : Grain, IMatchingJobGrain
{
    readonly MatchingJobOptions _options = options.Value;
    ProgressWriter<JobState>? _progress;
    // The finished report, held once this activation computed (without a bundle store) or read it, and, without a
    // store, its JSON once a client fetched slices of it. With a store the JSON is never held: slices are read from the
    // store's copy (at 1M operators the records are GBs and the JSON hundreds of MB).
    ComparisonReport? _report;
    byte[]? _reportJson;
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
            GrainLog.JobStartsOver(log, JobId);
            s.Phase = JobPhase.Ingesting;
            s.Report = null;
            s.ReportInStore = false;
            s.Error = null;
            s.SegmentsTotal = s.FindingsTotal = 0;
            s.SegmentsDone = [];
            s.Causes = [];
            s.Code = WorkIds.CodeVersion;
        }
        if (s.Request is not null && s.Phase is not (JobPhase.Done or JobPhase.Failed))
        {
            s.Resumes++;
            _restored = s.SegmentsDone.Count;
            GrainLog.JobResumes(log, JobId, s.Phase, s.SegmentsDone.Count, s.SegmentsTotal);
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
            GrainLog.JobCancelled(log, JobId);
        }
        return Task.FromResult(Status());
    }

    public async Task<Immutable<ComparisonReport>> GetReport() => new(await ReportAsync());

    async Task<ComparisonReport> ReportAsync()
    {
        CheckFinished();
        if ((_report ?? state.State.Report) is { } report) return report;
        var json = await ReportJsonAsync();
        return _report = await Task.Run(() => JsonSerializer.Deserialize<ComparisonReport>(json, ReportJson.Options)!);
    }

    public async Task<ReportChunk> GetReportJson(long offset, int maxBytes)
    {
        CheckFinished();
        if (state.State.ReportInStore && store is not null)
            return await store.GetReportSliceAsync(JobId, offset, maxBytes) ?? await ReportLostAsync<ReportChunk>();
        // Held for the slices that follow (a client fetches them one after another, right after the first).
        var json = _reportJson ??= await ReportJsonAsync();
        int count = ReportSlice.Length(JobId, offset, maxBytes, json.Length);
        return new ReportChunk(json.AsSpan((int)offset, count).ToArray(), json.Length);
    }

    void CheckFinished()
    {
        var s = state.State;
        if (s is { Phase: JobPhase.Failed }) throw new MagnetonInputException(s.Error ?? $"job {JobId} failed");
        if (s.Phase != JobPhase.Done) throw new InvalidOperationException($"job {JobId} has not finished (phase {s.Phase})");
    }

    /// <summary>The finished report's JSON: held, written from the report held, or read from the store.</summary>
    async Task<byte[]> ReportJsonAsync()
    {
        var s = state.State;
        if (_reportJson is { } held) return held;
        if ((_report ?? s.Report) is { } report)
            return await Task.Run(() => JsonSerializer.SerializeToUtf8Bytes(report, ReportJson.Compact));
        if (s.ReportInStore && store is not null && await store.GetReportAsync(JobId) is { } json) return json;
        return await ReportLostAsync<byte[]>();
    }

    /// <summary>The store lost the report: it is computed again (the caller's retry finds it, or the job's progress).</summary>
    async Task<T> ReportLostAsync<T>()
    {
        var s = state.State;
        s.Phase = JobPhase.Ingesting;
        s.ReportInStore = false;
        await Progress.SaveNowAsync();
        EnsureRunning();
        throw new MagnetonUnavailableException($"job {JobId}: the cluster's store lost the report; it is being computed again");
    }

    public async Task<Immutable<ComparisonReport>> Compare(CompareRequest request, CancellationToken cancellationToken)
    {
        await Start(request);
        // One task for the caller going away, not one per wait: each Task.Delay on the token registers with it.
        var callerGone = Task.Delay(Timeout.Infinite, cancellationToken);
        while (true)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                // The caller went away (Ctrl-C on the embedded CLI): the job's work stops, as on Cancel.
                await Cancel();
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (_loop is { IsCompleted: false } loop)
            {
                await Task.WhenAny(loop, callerGone);
                continue;
            }
            var status = Status();
            if (status.Finished) return await GetReport();
            if (status.Problem is { } problem) throw new MagnetonUnavailableException(problem, status.MissingRun);
            await Task.WhenAny(Wait(TimeSpan.FromSeconds(1)), callerGone);
        }
    }

    JobStatus Status()
    {
        var s = state.State;
        return new JobStatus(JobId, s.Request is null ? JobPhase.New : s.Phase, s.SegmentsTotal,
            s.Phase >= JobPhase.Diagnosing ? s.SegmentsTotal : s.SegmentsDone.Count,
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

    // One catch per way a job stops (input, cancel, lost run, the cluster), so that what each stop leaves in the state
    // is decided in one place.
    async Task RunStepsAsync(CancellationToken ct)
    {
        var s = state.State;
        var request = s.Request!;
        var options = request.ToOptions();
        using var job = StartJobSpan(s, request);
        var started = Stopwatch.StartNew();
        var phases = new PhaseTimes();
        try
        {
            await IngestAsync(request, ct);
            _problem = null;
            ct.ThrowIfCancellationRequested();
            phases.End("ingest");

            var matching = Stopwatch.StartNew();
            var session = await PrepareAsync(s, request, options);
            bool local = KeepOnThisSilo(session);
            phases.End("prepare");

            var batches = SegmentBatches.Split(session.Segments, _options.SegmentWorkers);
            List<RegionMatch> regions;
            IReadOnlyList<Core.Detection.Finding> findings;
            using (PlaceOnThisSilo(local))
                regions = await MatchSegmentsAsync(s, request, options, session, batches, ct);
            phases.End("match");
            using (MagnetonTelemetry.Source.StartActivity("detect"))
                findings = await Task.Run(() => Pipeline.Detect(session, regions), ct);
            double matchingMs = matching.Elapsed.TotalMilliseconds;
            ct.ThrowIfCancellationRequested();
            await EnterDiagnosingAsync(s, findings.Count);
            phases.End("detect");

            using (PlaceOnThisSilo(local))
                await DiagnoseAsync(s, request, options, regions, findings, ct);
            phases.End("diagnose");

            var report = await ReportAsync(s, session, regions, findings, matchingMs, phases, ct);
            _report = store is null ? report : null;
            s.Report = store is null ? report : null;
            s.ReportInStore = store is not null;
            s.Phase = JobPhase.Done;
            s.SegmentsDone = [];
            s.Causes = [];
            await Progress.SaveNowAsync();
            phases.End("save");
            GrainLog.JobDone(log, JobId, started.Elapsed.TotalMilliseconds, session.A.Operators.Length, session.Segments.Count, phases.ToString());
            counters.JobRan();
            foreach (var f in report.Findings) MagnetonTelemetry.Findings.Add(1, new KeyValuePair<string, object?>("verdict", f.Verdict.Json()));
            MagnetonTelemetry.JobDuration.Record(started.Elapsed.TotalSeconds);
            _finished.TrySetResult();
            // The job is done (its span too); dropping the stored segment results is housekeeping after it.
            job?.Dispose();
            await ForgetSegmentsAsync(batches.Count);
        }
        catch (MagnetonInputException e)
        {
            await FailAsync(s, job, e);
            _finished.TrySetResult();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Cancel, or a Compare caller gone: the progress stays for a new Start to resume from.
            _finished.TrySetResult();
        }
        catch (Exception e) when (Transient.MissingRun(e) is { } missing)
        {
            WaitForRun(job, missing);
            _finished.TrySetResult();
        }
        catch (Exception e)
        {
            Stopped(s, job, e);
            _finished.TrySetResult();
        }
    }

    /// <summary>The report, written into the bundle store when the silo has one.</summary>
    async Task<ComparisonReport> ReportAsync(JobState s, MatchSession session, List<RegionMatch> regions,
        IReadOnlyList<Core.Detection.Finding> findings, double matchingMs, PhaseTimes phases, CancellationToken ct)
    {
        using var span = MagnetonTelemetry.Source.StartActivity("report");
        var causes = Enumerable.Range(0, findings.Count).Select(i => s.Causes[i]).ToList();
        var report = await Task.Run(() => Pipeline.Report(session, regions, findings, causes, matchingMs), ct);
        phases.End("report");
        if (store is null) return report;
        // Streamed into the store off the grain's thread: at a million operators it is hundreds of MB of JSON.
        await Transient.RetryAsync(() => Task.Run(() => store.PutReportAsync(JobId,
            (stream, c) => JsonSerializer.SerializeAsync(stream, report, ReportJson.Compact, c), ct), ct),
            log, $"job {JobId}: report", ct);
        phases.End("store");
        return report;
    }

    /// <summary>Both runs ingested by their run grains, activated on this silo: into the cache this job's session is prepared from.</summary>
    async Task IngestAsync(CompareRequest request, CancellationToken ct)
    {
        using (MagnetonTelemetry.Source.StartActivity("ingest"))
        using (PlaceOnThisSilo())
        {
            await Transient.RetryAsync(() => Task.WhenAll(
                GrainFactory.GetGrain<IRunGrain>(request.A.RunId).Ingest(request.A, ct),
                GrainFactory.GetGrain<IRunGrain>(request.B.RunId).Ingest(request.B, ct)), log, $"job {JobId}: ingest", ct);
        }
    }

    /// <summary>
    /// The job's match session (silo-local, and deterministic: every silo and every resume gets the same segments);
    /// the matching phase is persisted with the segment count the first time, or when a new build counts otherwise.
    /// </summary>
    async Task<MatchSession> PrepareAsync(JobState s, CompareRequest request, CompareOptions options)
    {
        MatchSession session;
        using (MagnetonTelemetry.Source.StartActivity("prepare"))
            session = await sessions.GetOrPrepareAsync(request.A, request.B, options);
        if (s.Phase < JobPhase.Matching || s.SegmentsTotal != session.Segments.Count)
        {
            s.SegmentsTotal = session.Segments.Count;
            s.Phase = JobPhase.Matching;
            await Progress.SaveNowAsync();
        }
        return session;
    }

    /// <summary>Above this size, preparing the session on another silo costs more than the matching it would take over.</summary>
    bool KeepOnThisSilo(MatchSession session) =>
        session.A.Operators.Length > _options.LocalAboveOperators || session.B.Operators.Length > _options.LocalAboveOperators;

    async Task EnterDiagnosingAsync(JobState s, int findings)
    {
        if (s.Phase >= JobPhase.Diagnosing) return;
        s.FindingsTotal = findings;
        s.Phase = JobPhase.Diagnosing;
        await Progress.SaveNowAsync();
    }

    /// <summary>A verdict about the input: final, persisted with its message; the intermediate results are dropped.</summary>
    async Task FailAsync(JobState s, Activity? job, MagnetonInputException e)
    {
        job?.SetStatus(ActivityStatusCode.Error, e.Message);
        s.Phase = JobPhase.Failed;
        s.Error = e.Message;
        s.SegmentsDone = [];
        s.Causes = [];
        await Progress.SaveNowAsync();
    }

    /// <summary>The store lost a run (or never had it): the job waits for its bundle to be uploaded again and a new Start.</summary>
    void WaitForRun(Activity? job, MagnetonUnavailableException missing)
    {
        job?.SetStatus(ActivityStatusCode.Error, missing.Message);
        GrainLog.JobWaitsForRun(log, JobId, missing.RunId!, missing.Message);
        _missingRun = missing.RunId;
        _problem = missing.Message;
    }

    /// <summary>
    /// Not the input's fault (storage down, silos lost beyond the retries): the progress is kept and the next call (a
    /// polling client, or a new Start) takes the job up again; the problem is reported to pollers in one line.
    /// </summary>
    void Stopped(JobState s, Activity? job, Exception e)
    {
        job?.SetStatus(ActivityStatusCode.Error, e.Message);
        GrainLog.JobStopped(log, e, JobId, s.Phase);
        var problem = WireErrors.Translate(e) is MagnetonUnavailableException u ? u.Message : $"job {JobId}: {e.GetType().Name}: {e.Message}";
        _problem = string.Join(' ', problem.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    ISegmentMatcherGrain SegmentGrain(int worker) => GrainFactory.GetGrain<ISegmentMatcherGrain>($"{JobId}/{worker}");

    /// <summary>
    /// Every segment's regions, assembled: those of workers an earlier activation saw finish are read back from the
    /// workers' stored results, the rest are matched. The segments are dealt to at most
    /// <see cref="MatchingJobOptions.SegmentWorkers"/> workers (<see cref="SegmentBatches"/>); each worker stores its own
    /// result once, and the job's state only lists which segments are done, so a progress write stays small however
    /// many finished.
    /// </summary>
    async Task<List<RegionMatch>> MatchSegmentsAsync(JobState s, CompareRequest request, CompareOptions options, MatchSession session,
        IReadOnlyList<SegmentBatch> batches, CancellationToken ct)
    {
        using var match = MagnetonTelemetry.Source.StartActivity("match");
        int count = session.Segments.Count;
        match?.SetTag("magneton.segments", count);
        match?.SetTag("magneton.segment_workers", batches.Count);
        match?.SetTag("magneton.segments.restored", s.SegmentsDone.Count);
        var results = new RegionMatch[batches.Count][];
        s.SegmentsDone.RemoveWhere(i => i >= count);
        int lost = 0;
        await Task.WhenAll(Enumerable.Range(0, batches.Count).Where(w => batches[w].Indices.All(s.SegmentsDone.Contains)).ToList().Select(async w =>
        {
            var (first, n) = batches[w];
            var stored = (await Transient.RetryAsync(() => SegmentGrain(w).Stored(first, n), log, $"job {JobId}: stored segments of worker {w}", ct: ct)).Value;
            if (stored is not null) results[w] = stored;
            else lost += n;
        }));
        // Not restored (the store lost it, or only part of its segments are listed: the worker count changed): matched again.
        foreach (var w in Enumerable.Range(0, batches.Count).Where(w => results[w] is null)) s.SegmentsDone.ExceptWith(batches[w].Indices);
        if (lost > 0) GrainLog.SegmentsLost(log, JobId, lost);
        await Task.WhenAll(Enumerable.Range(0, batches.Count).Where(w => results[w] is null).Select(async w =>
        {
            ct.ThrowIfCancellationRequested();
            var (first, n) = batches[w];
            _dispatched += n;
            results[w] = (await Transient.RetryAsync(() => SegmentGrain(w).Match(request.A, request.B, options, first, n, ct),
                log, $"job {JobId}: segments of worker {w}", ct: ct)).Value;
            s.SegmentsDone.UnionWith(batches[w].Indices);
            Progress.SaveSoon();
        }));
        using (MagnetonTelemetry.Source.StartActivity("assemble"))
            return await Task.Run(() => RegionMatch.Assemble(session, results.SelectMany(r => r)), ct);
    }

    /// <summary>Each finding not yet diagnosed, in its own grain, which is sent the finding's regions only.</summary>
    async Task DiagnoseAsync(JobState s, CompareRequest request, CompareOptions options, List<RegionMatch> regions,
        IReadOnlyList<Core.Detection.Finding> findings, CancellationToken ct)
    {
        using var span = MagnetonTelemetry.Source.StartActivity("diagnose");
        var byId = regions.ToDictionary(r => r.Id);
        await Task.WhenAll(Enumerable.Range(0, findings.Count).Where(i => !s.Causes.ContainsKey(i)).Select(async i =>
        {
            var own = findings[i].Regions.Select(id => byId[id]).ToArray();
            var cause = await Transient.RetryAsync(() =>
                GrainFactory.GetGrain<IDiagnosisGrain>($"{JobId}/{i}").Diagnose(request.A, request.B, options, own, findings[i], ct),
                log, $"job {JobId}: finding {i}", ct: ct);
            s.Causes[i] = cause;
            Progress.SaveSoon();
        }));
    }

    /// <summary>Drops the segment workers' stored results once the report is kept; what is left only costs storage.</summary>
    async Task ForgetSegmentsAsync(int workers)
    {
        try
        {
            await Task.WhenAll(Enumerable.Range(0, workers).Select(w => SegmentGrain(w).Forget()));
        }
        catch (Exception e)
        {
            GrainLog.SegmentsNotForgotten(log, JobId, e.Message);
        }
    }

    /// <summary>
    /// Grains first activated by calls made in this scope are placed on this silo (a placement hint, which the
    /// random placement of segment and diagnosis workers honours); without <paramref name="here"/>, nothing changes.
    /// </summary>
    IDisposable? PlaceOnThisSilo(bool here = true)
    {
        if (!here || GrainContext.Address.SiloAddress is not { } silo) return null;
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        return new PlacementScope();
    }

    sealed class PlacementScope : IDisposable
    {
        public void Dispose() => RequestContext.Remove(IPlacementDirector.PlacementHintKey);
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
