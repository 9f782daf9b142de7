using System.Text.Json;

namespace Magneton.Core.Scaling;

/// <summary>The added copies of the dataflow: what every copy repeats, and the writer of one copy's nodes with fresh ids.</summary>
internal static partial class DataflowScaler
{
    /// <summary>What every copy repeats: the step's operators and the values they produce, and how a copy connects to the one before.</summary>
    sealed record StepTemplate(int Start, int Length, List<int> Produced, Dictionary<int, int> Counterpart, List<int> FreshInputs, HashSet<int> TraceIds)
    {
        public static StepTemplate Of(DataflowSource d, StepStructure step)
        {
            int start = step.Start, len = step.Length;
            // Values produced inside the template, in order; and for decode steps, the template value that plays the role
            // of each value of the step before (same producer position, same rank among that producer's values).
            var produced = d.Values.Keys.Where(v => d.ProducerIndex(v) is var p && p >= start && p < start + len)
                .OrderBy(v => d.ProducerIndex(v)).ThenBy(v => v).ToList();
            var byProducer = produced.GroupBy(d.ProducerIndex).ToDictionary(g => g.Key, g => g.ToList());
            var counterpart = new Dictionary<int, int>();
            if (step.Mode == ScalingMode.DecodeSteps)
            {
                var priorValues = d.Values.Keys.Where(v => d.ProducerIndex(v) is var p && p >= start - len && p < start)
                    .GroupBy(d.ProducerIndex).ToDictionary(g => g.Key, g => g.OrderBy(v => v).ToList());
                foreach (var (pi, list) in priorValues)
                {
                    if (!byProducer.TryGetValue(pi + len, out var mine)) continue;
                    for (int k = 0; k < Math.Min(list.Count, mine.Count); k++) counterpart[list[k]] = mine[k];
                }
            }
            // Job copies read inputs of their own (another prompt); parameters, buffers and constants are shared.
            var freshInputs = step.Mode == ScalingMode.Job
                ? d.Values.Keys.Where(v => d.Producer[v] is null && d.Kind[v] == "input").OrderBy(v => v).ToList()
                : [];
            var traceIds = new HashSet<int>();
            for (int i = start; i < start + len; i++) if (d.TraceIds[i] is int t) traceIds.Add(t);
            return new StepTemplate(start, len, produced, counterpart, freshInputs, traceIds);
        }
    }

    /// <summary>Writes the nodes of each added copy with fresh node, value and trace ids, planting where asked.</summary>
    sealed class Copier(DataflowSource d, StepTemplate t, Func<int, int, bool> planted, string plantOperator, PlantKind kind, double weight, int copies)
    {
        int _nextNode = d.NodeIds.Max() + 1;
        int _nextValue = d.Values.Keys.Max() + 1;
        int _nextTrace = d.TraceIds.Where(t => t is not null).Select(t => t!.Value).DefaultIfEmpty(-1).Max() + 1;
        // Value maps per copy (copy 0 = the original template: identity).
        readonly Dictionary<int, int>[] _maps = Init(copies);
        readonly List<(int Copy, int NewId, int TemplateId, int Producer)> _copyValues = [];
        readonly List<Synthetic> _synthetic = [];

        public int Operators { get; private set; } = d.Count;
        public List<Dictionary<int, int>> TraceMaps { get; } = [];
        public List<PlantTrace> Plants { get; } = [];
        public List<(int, int, string, int, int)> PlantNodes { get; } = [];
        public List<int[]> CopyNodeIds { get; } = [];

        static Dictionary<int, int>[] Init(int copies)
        {
            var maps = new Dictionary<int, int>[copies];
            maps[0] = [];
            return maps;
        }

        public void WriteCopy(Utf8JsonWriter w, int r)
        {
            var map = _maps[r] = new Dictionary<int, int>(t.Produced.Count + t.FreshInputs.Count);
            foreach (var v in t.Produced) map[v] = _nextValue++;
            foreach (var v in t.FreshInputs) map[v] = _nextValue++;
            var traceMap = new Dictionary<int, int>(t.TraceIds.Count);
            foreach (var id in t.TraceIds.Order()) traceMap[id] = _nextTrace++;
            TraceMaps.Add(traceMap);
            var ids = new int[t.Length];
            foreach (var v in t.FreshInputs) _copyValues.Add((r, map[v], v, -1));

            int Resolve(int v)
            {
                if (map.TryGetValue(v, out var m)) return m;
                if (t.Counterpart.TryGetValue(v, out var c)) return r == 1 ? c : _maps[r - 1][c];
                return v;
            }

            int occurrence = 0;
            for (int i = t.Start; i < t.Start + t.Length; i++)
            {
                int k = i - t.Start;
                bool plant = d.Ops[i] == plantOperator && planted(r, occurrence++) && d.In[i].Length >= 1 && d.Out[i].Length == 1;
                if (plant && kind == PlantKind.Chain)
                {
                    ids[k] = WriteChain(w, r, i, Resolve(d.In[i][0]), map[d.Out[i][0]]);
                    continue;
                }
                int id = ids[k] = _nextNode++;
                int? traceId = d.TraceIds[i] is int t0 ? traceMap[t0] : null;
                WriteNode(w, d.Nodes[i], id, d.In[i].Select(Resolve), d.Out[i].Select(Resolve), d.Aliases[i].Select(Resolve), traceId, null, null);
                Operators++;
                if (!plant) continue;
                if (traceId is int tid0)
                    Plants.Add(new PlantTrace(r, d.TraceIds[i]!.Value, [new ChainOp(tid0, d.Ops[i], "", Unvectorized, weight)]));
                PlantNodes.Add((r, k, ModuleOf(i), id, d.NodeIds[i]));
            }
            foreach (var v in t.Produced) _copyValues.Add((r, map[v], v, ids[d.ProducerIndex(v) - t.Start]));
            CopyNodeIds.Add(ids);
        }

        /// <summary>x -> to(float32) -> sigmoid -> mul(x32, sigmoid) -> to(bfloat16) = y in place of operator i; returns the last node's id.</summary>
        int WriteChain(Utf8JsonWriter w, int r, int i, int x, int y)
        {
            int xTemplate = d.In[i][0], yTemplate = d.Out[i][0];
            int t32 = _nextValue++, sg = _nextValue++, m32 = _nextValue++;
            var chain = new List<ChainOp>();
            int[] chainIds = new int[Chain.Length];
            for (int c = 0; c < Chain.Length; c++) chainIds[c] = _nextNode++;
            int[][] ins = [[x], [t32], [t32, sg], [m32]];
            int[][] outs = [[t32], [sg], [m32], [y]];
            for (int c = 0; c < Chain.Length; c++)
            {
                int? traceId = d.TraceIds[i] is not null ? _nextTrace++ : null;
                WriteNode(w, d.Nodes[i], chainIds[c], ins[c], outs[c], [], traceId, Chain[c].Op, Chain[c].Args);
                if (traceId is int tid)
                    chain.Add(new ChainOp(tid, Chain[c].Op, Chain[c].CpuOp,
                        [("silu_kernel", Chain[c].Kernel), ("c10::BFloat16", Chain[c].Types)], weight / Chain.Length * 2));
            }
            // The fp32 copies compute the same elements as x and y: their fingerprints in this copy. x may come
            // from outside the template (then its fingerprint is the original's).
            int xp = d.ProducerIndex(xTemplate);
            _synthetic.Add(new Synthetic(t32, chainIds[0], xTemplate, xp >= t.Start && xp < t.Start + t.Length ? r : 0, false));
            _synthetic.Add(new Synthetic(sg, chainIds[1], xTemplate, 0, true));
            _synthetic.Add(new Synthetic(m32, chainIds[2], yTemplate, r, false));
            if (d.TraceIds[i] is int st) Plants.Add(new PlantTrace(r, st, chain));
            PlantNodes.Add((r, i - t.Start, ModuleOf(i), chainIds[^1], d.NodeIds[i]));
            Operators += Chain.Length;
            return chainIds[^1];
        }

        string ModuleOf(int i) => d.Nodes[i].TryGetProperty("module", out var m) ? m.GetString() ?? "" : "";

        public void WriteValues(Utf8JsonWriter w)
        {
            foreach (var (r, newId, templateId, producer) in _copyValues)
                WriteValue(w, newId, d.Values[templateId], producer < 0 ? null : producer, r, null);
            foreach (var s in _synthetic)
            {
                if (s.Sigmoid) WriteSigmoid(w, s.Id, s.Producer, d.Values[s.Like]);
                else WriteValue(w, s.Id, d.Values[s.Like], s.Producer, s.Copy, "float32");
            }
        }
    }
}
