using Magneton.Core.Bundles;
using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>
/// dataflow.json is read in one pass over its tokens; what a hand-edited or differently-written file may do (escaped
/// names, fields in any order, repeated keys, nulls for optional fields) must read as a whole-document reader reads it.
/// </summary>
public sealed class DataflowReaderTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "magneton-dataflow-reader-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    Dataflow Read(string json)
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, BundleFiles.Dataflow);
        File.WriteAllText(path, json);
        return DataflowReader.Read(path);
    }

    string Refusal(string json) => Assert.Throws<BundleException>(() => Read(json)).Message;

    const string Value0 = """{"shape":[2,3],"dtype":"float32","stride":[3,1],"numel":6,"kind":"input","producer":null}""";

    static string Doc(string nodes, string values = "{\"0\":" + Value0 + "}", string extra = "") =>
        $$"""{"format":"magneton-capture/1","system":"s",{{extra}}"nodes":[{{nodes}}],"values":{{values}}}""";

    [Fact]
    public void Escaped_names_any_order_and_the_last_of_repeated_keys_are_read()
    {
        var node = """
            {"trace_id":7,"\u0076iew":true,"mutable":false,"out":[],"in":[0],"stack":["a.py:1:f","b.py:2:g"],
             "op":"wrong","module":null,"\u006fp":"aten.add","i\u0064":"x","id":3,"args":[1,"T",{"k":"<\u00e9>"}],"extra":{"a":[1]}}
            """;
        var value = """
            {"\u0073tats":{"l2":6,"absmean":5,"max":4,"min":null,"std":2,"mean":"bad","mean":1},"kind":"weight","numel":6,
             "stride":[3,1],"dtype":"bf16","shape":[2,3],"spectra":{"f\u0066t":[1.5,null]},"nonfinite":null,"producer":3}
            """;
        var d = Read($$$"""{"system":"s","config":{"batch":32,"name":"x","opts":{"a":[1,true]}},"format":"magneton-capture/1","values":{"\u0030":{{{value}}}},"nodes":[{{{node}}}],"role":null}""");

        var n = Assert.Single(d.Nodes);
        Assert.Equal(3, n.Id);
        Assert.Equal("aten.add", n.Op);
        Assert.Equal("", n.Module);
        Assert.Equal(["a.py:1:f", "b.py:2:g"], n.Stack);
        Assert.Equal([0], n.In);
        Assert.True(n.View);
        Assert.Equal(7, n.TraceId);
        Assert.Empty(n.AliasesUpdated);
        Assert.Equal("""[1,"T",{"k":"<é>"}]""", n.Args);

        var v = d.Values[0];
        Assert.Equal("bf16", v.Dtype);
        Assert.Equal([2L, 3L], v.Shape);
        Assert.Equal(3, v.Producer);
        Assert.Equal(0, v.Nonfinite);
        Assert.Equal(new FloatStats(1, 2, double.NaN, 4, 5, 6), v.Stats);
        Assert.Equal([1.5, double.NaN], v.Spectra!["fft"]);
        Assert.Equal("32", d.Config["batch"]);
        Assert.Equal("""{"a":[1,true]}""", d.Config["opts"]);
        Assert.Null(d.Role);
    }

    [Fact]
    public void A_node_with_several_problems_names_the_first_in_field_order_not_in_document_order()
    {
        const string node = """{"op":5,"stack":[],"in":[0],"out":[],"mutable":false,"view":false,"id":"x"}""";
        Assert.Equal("dataflow.json: nodes[0].id: expected an integer, got a string", Refusal(Doc(node)));
        const string missing = """{"op":"a","stack":["f",7],"in":[0],"out":[],"mutable":false}""";
        Assert.Equal("dataflow.json: nodes[0].id: is missing", Refusal(Doc(missing)));
        const string late = """{"id":1,"op":"a","stack":["f",7],"in":[0],"out":[],"mutable":false}""";
        Assert.Equal("dataflow.json: nodes[0].stack[1]: expected a string, got a number", Refusal(Doc(late)));
    }

    [Fact]
    public void Value_keys_are_ids_as_text_and_the_top_level_is_checked_in_its_order()
    {
        const string node = """{"id":1,"op":"a","stack":[],"in":[0],"out":[],"mutable":false,"view":false}""";
        Assert.Equal("dataflow.json: values[\"00\"]: duplicate value id",
            Refusal(Doc(node, values: "{\"0\":" + Value0 + ",\"00\":" + Value0 + "}")));
        Assert.Equal("dataflow.json: values[\"0\"].stats: expected an object, got an array",
            Refusal(Doc(node, values: "{\"0\":" + Value0.Replace("}", ",\"stats\":[]}") + "}")));
        // A bad node and a bad config: config comes first, wherever it is written.
        Assert.Equal("dataflow.json: config.a: duplicate key", Refusal(Doc("5", extra: "\"config\":{\"a\":1,\"a\":2},")));
        Assert.Equal("dataflow.json: $: expected an object, got an array", Refusal("[1, {\"format\": 2}]"));
    }
}
