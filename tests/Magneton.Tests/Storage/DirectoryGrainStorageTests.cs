using System.Text.Json;
using System.Text.Json.Serialization;
using Magneton.Grains.Storage;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Orleans.Storage;
using Xunit;

namespace Magneton.Tests.Storage;

public sealed class DirectoryGrainStorageTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), $"magneton-grainstore-{Guid.NewGuid():N}");

    static IGrainStorageSerializer Serializer()
    {
        var options = new SystemTextJsonGrainStorageSerializerOptions();
        options.JsonSerializerOptions.NumberHandling |= JsonNumberHandling.AllowNamedFloatingPointLiterals;
        return new SystemTextJsonGrainStorageSerializer(Options.Create(options));
    }

    DirectoryGrainStorage NewStorage() => new(_root, Serializer());

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    static StorageProbeRecord MakeRecord(double ratio) => new("mlp.act", ratio, [1, 2, long.MaxValue]);

    static readonly GrainId Run = GrainId.Create("run", "run-0123456789abcdef");

    [Fact]
    public async Task State_round_trips_through_a_new_instance_as_plain_json()
    {
        var state = new GrainState<StorageProbeState> { State = new StorageProbeState { Path = "/data/a", Record = MakeRecord(double.NaN), Manifest = StoreTestBundle.Small(1).Manifest } };
        await NewStorage().WriteStateAsync("run", Run, state);
        Assert.Equal("1", state.ETag);
        Assert.True(state.RecordExists);
        await NewStorage().WriteStateAsync("run", Run, state);
        Assert.Equal("2", state.ETag);

        var read = new GrainState<StorageProbeState>();
        await NewStorage().ReadStateAsync("run", Run, read);
        Assert.True(read.RecordExists);
        Assert.Equal("2", read.ETag);
        Assert.Equal("/data/a", read.State!.Path);
        Assert.Equal("mlp.act", read.State!.Record!.Name);
        Assert.True(double.IsNaN(read.State.Record.Ratio));
        Assert.Equal([1, 2, long.MaxValue], read.State.Record.Values);
        var manifest = StoreTestBundle.Small(1).Manifest;
        Assert.Equal(manifest.RunId, read.State.Manifest!.RunId);
        Assert.Equal(manifest.Files, read.State.Manifest.Files);
        Assert.Equal(manifest.StoredAt, read.State.Manifest.StoredAt);

        var path = NewStorage().PathOf("run", Run);
        Assert.StartsWith(Path.Combine(_root, "grains", "run") + Path.DirectorySeparatorChar, path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        Assert.Equal("2", doc.RootElement.GetProperty("etag").GetString());
        var json = doc.RootElement.GetProperty("state").GetRawText();
        Assert.DoesNotContain("$type", json);
        Assert.Equal("/data/a", doc.RootElement.GetProperty("state").GetProperty("Path").GetString());
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp-*"));
    }

    [Fact]
    public async Task A_missing_state_reads_as_new()
    {
        var read = new GrainState<StorageProbeState>();
        await NewStorage().ReadStateAsync("run", Run, read);
        Assert.False(read.RecordExists);
        Assert.Null(read.ETag);
        Assert.NotNull(read.State);
    }

    [Fact]
    public async Task A_write_with_a_stale_etag_throws_InconsistentStateException()
    {
        var storage = NewStorage();
        var first = new GrainState<StorageProbeState>();
        var second = new GrainState<StorageProbeState>();
        await storage.ReadStateAsync("run", Run, first);
        await storage.ReadStateAsync("run", Run, second);
        first.State!.Path = "first";
        await storage.WriteStateAsync("run", Run, first);

        second.State!.Path = "second";
        var e = await Assert.ThrowsAsync<InconsistentStateException>(() => NewStorage().WriteStateAsync("run", Run, second));
        Assert.Equal("1", e.StoredEtag);
        Assert.Equal("", e.CurrentEtag);

        second.ETag = "7";
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("run", Run, second));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("run", Run, second));

        var read = new GrainState<StorageProbeState>();
        await storage.ReadStateAsync("run", Run, read);
        Assert.Equal("first", read.State!.Path);
    }

    [Fact]
    public async Task Clear_deletes_the_file_and_a_cleared_state_can_be_written_again()
    {
        var storage = NewStorage();
        var state = new GrainState<StorageProbeState> { State = new StorageProbeState { Path = "x" } };
        await storage.WriteStateAsync("run", Run, state);
        await storage.ClearStateAsync("run", Run, state);
        Assert.False(File.Exists(storage.PathOf("run", Run)));
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);

        var stale = new GrainState<StorageProbeState> { ETag = "1" };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("run", Run, stale));
        state.State.Path = "y";
        await storage.WriteStateAsync("run", Run, state);
        Assert.Equal("1", state.ETag);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("a/b\\c")]
    [InlineData("..")]
    [InlineData("über straße")]
    public async Task Any_grain_key_stays_inside_the_state_directory(string key)
    {
        var storage = NewStorage();
        var id = GrainId.Create("job", key);
        var state = new GrainState<StorageProbeState> { State = new StorageProbeState { Path = key } };
        await storage.WriteStateAsync("job", id, state);
        var path = storage.PathOf("job", id);
        Assert.Equal(Path.Combine(_root, "grains", "job"), Path.GetDirectoryName(path));
        var read = new GrainState<StorageProbeState>();
        await storage.ReadStateAsync("job", id, read);
        Assert.Equal(key, read.State!.Path);
    }

    [Fact]
    public void Escaped_names_are_distinct_and_long_ones_are_hashed()
    {
        Assert.NotEqual(DirectoryGrainStorage.Escape("a/b"), DirectoryGrainStorage.Escape("a%2Fb"));
        Assert.DoesNotContain("..", DirectoryGrainStorage.Escape("a..b"));
        var a = DirectoryGrainStorage.Escape(new string('x', 300) + "a");
        var b = DirectoryGrainStorage.Escape(new string('x', 300) + "b");
        Assert.NotEqual(a, b);
        Assert.True(a.Length < 200);
    }

    [Fact]
    public async Task Concurrent_writers_of_one_grain_never_both_win()
    {
        // Separate instances, as separate silo processes on one directory would have: only the file lock is shared.
        var states = Enumerable.Range(0, 8).Select(i => new GrainState<StorageProbeState> { State = new StorageProbeState { Path = $"w{i}" } }).ToArray();
        var results = await Task.WhenAll(states.Select(s =>
            Task.Run(() => Record.ExceptionAsync(() => NewStorage().WriteStateAsync("run", Run, s)))));
        Assert.Equal(1, results.Count(r => r is null));
        Assert.All(results.Where(r => r is not null), r => Assert.IsType<InconsistentStateException>(r));
    }
}
