using System.Globalization;
using System.Text;
using Magneton.Grains;
using Spectre.Console;

namespace Magneton.Client;

/// <summary>
/// Progress of a long job (a campaign, a comparison on a cluster) on stderr. When stderr is a terminal and the
/// command is not <c>--quiet</c>, a live Spectre.Console display (bar, counts, elapsed time) with the job's log
/// lines printed above it; otherwise the plain lines the commands always printed, so redirected stderr and CI
/// logs stay line-oriented and free of escape codes.
/// </summary>
public abstract class ProgressDisplay
{
    /// <summary>Where the job's log lines go: above the live display, or the plain writer.</summary>
    public abstract TextWriter Log { get; }

    /// <summary>A comparison job's status, after each poll.</summary>
    public virtual void Job(JobStatus status) { }

    /// <summary>A campaign's status, after each poll.</summary>
    public virtual void Campaign(CampaignStatus status) { }

    /// <summary>
    /// True when a live display is wanted: not quiet, the writer is the process's stderr, stderr is a terminal
    /// (not redirected), and the terminal is not "dumb".
    /// </summary>
    public static bool IsInteractive(TextWriter stderr, bool quiet) =>
        !quiet && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected
        && Environment.GetEnvironmentVariable("TERM") != "dumb"
        && Environment.GetEnvironmentVariable("MAGNETON_NO_PROGRESS") is null or "" or "0";

    /// <summary>
    /// Runs <paramref name="body"/> with a display: live on <paramref name="console"/> (or the terminal's stderr
    /// when <paramref name="interactive"/>), else plain lines on <paramref name="plainLog"/>.
    /// </summary>
    public static async Task<T> RunAsync<T>(bool interactive, TextWriter plainLog, string title,
        Func<ProgressDisplay, Task<T>> body, IAnsiConsole? console = null)
    {
        if (console is null && !interactive) return await body(new Plain(plainLog)).ConfigureAwait(false);
        console ??= AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
        });
        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new SpinnerColumn(), new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var live = new Live(console, ctx, title);
                result = await body(live).ConfigureAwait(false);
                live.Finish();
            }).ConfigureAwait(false);
        return result;
    }

    sealed class Plain(TextWriter log) : ProgressDisplay
    {
        public override TextWriter Log => log;
    }

    sealed class Live : ProgressDisplay
    {
        readonly ProgressTask _task;
        readonly string _title;

        public Live(IAnsiConsole console, ProgressContext ctx, string title)
        {
            _title = title;
            _task = ctx.AddTask(Markup.Escape(title), maxValue: 1);
            _task.IsIndeterminate = true;
            Log = new ConsoleLineWriter(console);
        }

        public override TextWriter Log { get; }

        public override void Job(JobStatus s)
        {
            double total = s.SegmentsTotal + s.FindingsTotal;
            double done = s.SegmentsDone + s.FindingsDiagnosed;
            string phase = s.Phase.ToString().ToLowerInvariant();
            string detail = s.SegmentsTotal > 0
                ? string.Create(CultureInfo.InvariantCulture, $"{phase}: segments {s.SegmentsDone}/{s.SegmentsTotal}")
                  + (s.FindingsTotal > 0 ? string.Create(CultureInfo.InvariantCulture, $", findings {s.FindingsDiagnosed}/{s.FindingsTotal}") : "")
                : phase;
            if (s.Resumes > 0) detail += string.Create(CultureInfo.InvariantCulture, $" (resumed {s.Resumes}x)");
            Update(detail, done, total, s.Finished);
        }

        public override void Campaign(CampaignStatus s)
        {
            string detail = string.Create(CultureInfo.InvariantCulture,
                $"versions {s.Done + s.Failed}/{s.Versions}: {s.Running} running, {s.Done} done")
                + (s.Failed > 0 ? string.Create(CultureInfo.InvariantCulture, $", {s.Failed} failed") : "")
                + (s.Resumes > 0 ? string.Create(CultureInfo.InvariantCulture, $" (resumed {s.Resumes}x)") : "");
            Update(detail, s.Done + s.Failed, s.Versions, s.Finished);
        }

        void Update(string detail, double done, double total, bool finished)
        {
            _task.Description = Markup.Escape($"{_title} {detail}");
            if (total > 0)
            {
                _task.IsIndeterminate = false;
                _task.MaxValue = total;
                _task.Value = Math.Min(done, total);
            }
            if (finished) Finish();
        }

        public void Finish()
        {
            if (_task.IsFinished) return;
            _task.IsIndeterminate = false;
            _task.Value = _task.MaxValue;
            _task.StopTask();
        }
    }

    /// <summary>A TextWriter whose lines are written through the console, so they appear above the live display.</summary>
    sealed class ConsoleLineWriter(IAnsiConsole console) : TextWriter
    {
        readonly StringBuilder _pending = new();
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n') Emit();
            else if (value != '\r') _pending.Append(value);
        }

        public override void Write(string? value)
        {
            if (value is null) return;
            foreach (var c in value) Write(c);
        }

        public override void WriteLine(string? value)
        {
            Write(value);
            Emit();
        }

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }

        public override Task WriteAsync(string? value)
        {
            Write(value);
            return Task.CompletedTask;
        }

        public override void Flush()
        {
            if (_pending.Length > 0) Emit();
        }

        void Emit()
        {
            var line = _pending.ToString();
            _pending.Clear();
            lock (console) console.WriteLine(line);
        }
    }
}
