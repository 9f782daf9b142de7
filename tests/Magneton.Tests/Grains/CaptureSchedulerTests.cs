using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>The capture queue: addressed and any-node jobs, a lost worker's job reassigned, late workers ignored.</summary>
public sealed class CaptureSchedulerTests(CaptureSchedulerTests.ShortTimeoutCluster fx) : IClassFixture<CaptureSchedulerTests.ShortTimeoutCluster>
{
    /// <summary>
    /// A cluster of its own whose workers are lost after 3 s: long enough that n2, beating every 200 ms, is never
    /// taken for lost on a busy test machine, short enough to see n1 lost.
    /// </summary>
    public sealed class ShortTimeoutCluster : ClusterFixture
    {
        protected override void ConfigureSilo(ISiloBuilder silo) =>
            silo.Services.Configure<CaptureSchedulerOptions>(o => o.WorkerTimeout = TimeSpan.FromSeconds(3));
    }

    static WorkerInfo Worker(string node, string? running = null) =>
        new($"worker-{node}", node, [new WorkerGpu(0, "NVIDIA H100 80GB HBM3", $"GPU-{node}", "580.65", 700)], running);

    [Fact]
    public async Task Jobs_go_to_their_node_or_any_free_GPU_node_and_a_lost_workers_job_is_reassigned()
    {
        var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
        var forN2 = await queue.Submit(new CaptureSpec("gpt2-gelu_new", ["python3", "gpt2.py"], Node: "n2"));
        var forAny = await queue.Submit(new CaptureSpec("gpt2-tanh", ["python3", "gpt2.py", "--tanh"]));

        // A node without GPUs gets nothing; n1 gets the any-node job, n2 its own job.
        Assert.Null(await queue.Heartbeat(Worker("cpu") with { Gpus = [] }));
        var n1Job = await queue.Heartbeat(Worker("n1"));
        Assert.Equal(forAny.JobId, n1Job?.Job.JobId);
        var n2Job = await queue.Heartbeat(Worker("n2"));
        Assert.Equal(forN2.JobId, n2Job?.Job.JobId);
        Assert.Equal(CaptureState.Running, (await queue.GetJob(forAny.JobId)).State);

        // n1 goes silent; n2 keeps beating while busy, finishes, and then takes over n1's job.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await queue.GetJob(forAny.JobId)).State != CaptureState.Queued && DateTime.UtcNow < deadline)
        {
            await queue.Heartbeat(Worker("n2", running: forN2.JobId));
            await Task.Delay(200);
        }
        var requeued = await queue.GetJob(forAny.JobId);
        Assert.Equal(CaptureState.Queued, requeued.State);
        Assert.Contains("worker-n1", requeued.Progress);
        Assert.Equal(CaptureState.Done, (await queue.Complete(forN2.JobId, n2Job!.Token, "run-0000000000000002")).State);

        var taken = await queue.Heartbeat(Worker("n2"));
        Assert.Equal(forAny.JobId, taken?.Job.JobId);
        Assert.Equal(2, taken!.Job.Attempts);
        Assert.NotEqual(n1Job!.Token, taken.Token);

        // n1 comes back and reports the job it lost with its old attempt's token: ignored, the job stays n2's.
        var late = await queue.Complete(forAny.JobId, n1Job.Token, "run-00000000000000aa");
        Assert.Equal("worker-n2", late.Worker);
        Assert.Equal(CaptureState.Running, late.State);

        var done = await queue.Complete(forAny.JobId, taken.Token, "run-0000000000000003");
        Assert.Equal(CaptureState.Done, done.State);
        Assert.Equal("run-0000000000000003", done.RunId);
        var workers = await queue.Workers();
        Assert.Contains(workers, w => w.Info.Node == "n2" && w.Alive);
        Assert.Contains(workers, w => w.Info.Node == "n1" && !w.Alive);
    }

    [Fact]
    public async Task A_capture_without_a_command_is_refused()
    {
        var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
        var ex = await Assert.ThrowsAsync<MagnetonInputException>(() => queue.Submit(new CaptureSpec("x", [])));
        Assert.Contains("no command", ex.Message);
    }

    [Fact]
    public async Task A_released_job_is_queued_at_once_without_counting_and_a_restarted_worker_loses_its_old_job()
    {
        var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
        var job = await queue.Submit(new CaptureSpec("s", ["python3", "job.py"], ProbeArguments: ["--no-replay"]));
        Assert.Equal(["--no-replay"], job.Spec.ProbeArguments!);

        // A clean stop: queued at once, the attempt given back, and the same worker may take it again.
        var first = await queue.Heartbeat(Worker("n1"));
        Assert.Equal(job.JobId, first?.Job.JobId);
        var released = await queue.Release(job.JobId, first!.Token, "worker worker-n1 stopped");
        Assert.Equal(CaptureState.Queued, released.State);
        Assert.Equal(0, released.Attempts);
        Assert.Null(released.Worker);
        Assert.Equal("requeued: worker worker-n1 stopped", released.Progress);

        // A worker that restarts under the same id beats without the job it held: the job is queued again, counted.
        var second = await queue.Heartbeat(Worker("n1"));
        Assert.Equal(job.JobId, second?.Job.JobId);
        var again = await queue.Heartbeat(Worker("n1")); // "I run nothing": it takes the requeued job afresh
        Assert.Equal(job.JobId, again?.Job.JobId);
        Assert.Equal(2, again!.Job.Attempts);

        // Only the holder of the attempt's token can release it; the previous attempt's token is void.
        var foreign = await queue.Release(job.JobId, second!.Token, "not mine");
        Assert.Equal(CaptureState.Running, foreign.State);
        Assert.Equal("worker-n1", foreign.Worker);
    }

    [Fact]
    public async Task The_queue_is_bounded_and_refuses_oversized_commands_with_one_line()
    {
        var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
        var huge = await Assert.ThrowsAsync<MagnetonInputException>(() =>
            queue.Submit(new CaptureSpec("big", ["python3", new string('x', CaptureSchedulerGrain.MaxCommandChars)])));
        Assert.Contains("longer than", huge.Message);

        await Task.WhenAll(Enumerable.Range(0, CaptureSchedulerGrain.MaxQueuedJobs).Select(i =>
            queue.Submit(new CaptureSpec($"s{i}", ["python3", "run.py"]))));
        var full = await Assert.ThrowsAsync<MagnetonInputException>(() => queue.Submit(new CaptureSpec("one-more", ["python3", "run.py"])));
        Assert.Contains("queue is full", full.Message);
        Assert.DoesNotContain("\n", full.Message);
        Assert.Equal(CaptureSchedulerGrain.MaxQueuedJobs, (await queue.Jobs()).Count(j => j.State == CaptureState.Queued));

        // A worker taking one makes room again.
        Assert.NotNull(await queue.Heartbeat(Worker("n1")));
        await queue.Submit(new CaptureSpec("now-fits", ["python3", "run.py"]));
    }

    [Fact]
    public async Task A_job_is_bound_to_its_workers_token_and_its_command_line_is_not_listed()
    {
        var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
        var job = await queue.Submit(new CaptureSpec("s", [], Node: "n1", Workload: "gpt2", Arguments: ["--api-key=s3cret"]));
        var assigned = await queue.Heartbeat(Worker("n1"));
        Assert.NotNull(assigned);
        // The worker it was given to gets the whole spec; nobody else sees the arguments.
        Assert.Equal(["--api-key=s3cret"], assigned.Job.Spec.Arguments!);
        Assert.Equal(64, assigned.Token.Length);
        foreach (var listed in (await queue.Jobs()).Append(await queue.GetJob(job.JobId)))
        {
            Assert.True(listed.Spec.Hidden);
            Assert.Empty(listed.Spec.Arguments!);
            Assert.Equal("gpt2", listed.Spec.Workload);
            Assert.DoesNotContain("s3cret", listed.ToString());
        }

        // Another client, even one that registers under the same worker id, cannot report, complete or fail the job
        // without the token; a wrong token changes nothing and reveals nothing.
        await queue.Progress(job.JobId, "0" + assigned.Token[1..], "forged progress");
        var forged = await queue.Complete(job.JobId, new string('a', 64), "run-00000000000000ff");
        Assert.Equal(CaptureState.Running, forged.State);
        Assert.Null(forged.RunId);
        Assert.DoesNotContain("s3cret", forged.ToString());
        Assert.Equal(CaptureState.Running, (await queue.Fail(job.JobId, "", "forged failure")).State);
        Assert.Equal("assigned to n1", (await queue.GetJob(job.JobId)).Progress);

        await queue.Progress(job.JobId, assigned.Token, "step 3 of 5");
        Assert.Equal("step 3 of 5", (await queue.GetJob(job.JobId)).Progress);
        var done = await queue.Complete(job.JobId, assigned.Token, "run-0000000000000004");
        Assert.Equal(CaptureState.Done, done.State);
        // A finished job's token is spent.
        Assert.Equal("run-0000000000000004", (await queue.Fail(job.JobId, assigned.Token, "too late")).RunId);
    }

    [Fact]
    public async Task A_job_names_a_workload_or_a_command_not_both()
    {
        var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
        var ex = await Assert.ThrowsAsync<MagnetonInputException>(() => queue.Submit(new CaptureSpec("x", ["python3", "a.py"], Workload: "w")));
        Assert.Contains("not a command", ex.Message);
    }
}
