using Magneton.Grains;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>The capture queue: addressed and any-node jobs, a lost worker's job reassigned, late workers ignored.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CaptureSchedulerTests(ClusterFixture fx)
{
    static WorkerInfo Worker(string node, string? running = null) =>
        new($"worker-{node}", node, [new WorkerGpu(0, "NVIDIA H100 80GB HBM3", $"GPU-{node}", "580.65", 700)], running);

    [Fact]
    public async Task Jobs_go_to_their_node_or_any_free_GPU_node_and_a_lost_workers_job_is_reassigned()
    {
        var timeout = CaptureSchedulerGrain.WorkerTimeout;
        // Long enough that n2, beating every 200 ms, is never taken for lost on a busy test machine.
        CaptureSchedulerGrain.WorkerTimeout = TimeSpan.FromSeconds(3);
        try
        {
            var queue = fx.Client.GetGrain<ICaptureSchedulerGrain>("test-" + Guid.NewGuid().ToString("N"));
            var forN2 = await queue.Submit(new CaptureSpec("gpt2-gelu_new", ["python3", "gpt2.py"], Node: "n2"));
            var forAny = await queue.Submit(new CaptureSpec("gpt2-tanh", ["python3", "gpt2.py", "--tanh"]));

            // A node without GPUs gets nothing; n1 gets the any-node job, n2 its own job.
            Assert.Null(await queue.Heartbeat(Worker("cpu") with { Gpus = [] }));
            var n1Job = await queue.Heartbeat(Worker("n1"));
            Assert.Equal(forAny.JobId, n1Job?.JobId);
            var n2Job = await queue.Heartbeat(Worker("n2"));
            Assert.Equal(forN2.JobId, n2Job?.JobId);
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
            Assert.Equal(CaptureState.Done, (await queue.Complete("worker-n2", forN2.JobId, "run-0000000000000002")).State);

            var taken = await queue.Heartbeat(Worker("n2"));
            Assert.Equal(forAny.JobId, taken?.JobId);
            Assert.Equal(2, taken!.Attempts);

            // n1 comes back and reports the job it lost: ignored, the job stays n2's.
            var late = await queue.Complete("worker-n1", forAny.JobId, "run-00000000000000aa");
            Assert.Equal("worker-n2", late.Worker);
            Assert.Equal(CaptureState.Running, late.State);

            var done = await queue.Complete("worker-n2", forAny.JobId, "run-0000000000000003");
            Assert.Equal(CaptureState.Done, done.State);
            Assert.Equal("run-0000000000000003", done.RunId);
            var workers = await queue.Workers();
            Assert.Contains(workers, w => w.Info.Node == "n2" && w.Alive);
            Assert.Contains(workers, w => w.Info.Node == "n1" && !w.Alive);
        }
        finally
        {
            CaptureSchedulerGrain.WorkerTimeout = timeout;
        }
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
        Assert.Equal(job.JobId, (await queue.Heartbeat(Worker("n1")))?.JobId);
        var released = await queue.Release("worker-n1", job.JobId, "worker worker-n1 stopped");
        Assert.Equal(CaptureState.Queued, released.State);
        Assert.Equal(0, released.Attempts);
        Assert.Null(released.Worker);
        Assert.Equal("requeued: worker worker-n1 stopped", released.Progress);

        // A worker that restarts under the same id beats without the job it held: the job is queued again, counted.
        Assert.Equal(job.JobId, (await queue.Heartbeat(Worker("n1")))?.JobId);
        var again = await queue.Heartbeat(Worker("n1")); // "I run nothing": it takes the requeued job afresh
        Assert.Equal(job.JobId, again?.JobId);
        Assert.Equal(2, again!.Attempts);

        // Only the job's owner can release it.
        var foreign = await queue.Release("worker-n2", job.JobId, "not mine");
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
}
