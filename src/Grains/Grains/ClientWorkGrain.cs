namespace Magneton.Grains;

/// <summary>
/// One owner's unfinished work. Nothing tells it when work ends (a job's silo may die, a client walk away), so when
/// the owner is at the limit it asks each counted job or campaign whether it finished (or was cancelled) and drops
/// those: the count can lag behind, never stick.
/// </summary>
public sealed class ClientWorkGrain : Grain, IClientWorkGrain
{
    readonly HashSet<(bool Campaign, string Id)> _work = [];

    public async Task<int> Admit(bool campaign, string workId, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (_work.Contains((campaign, workId))) return _work.Count;
        if (_work.Count >= limit)
        {
            var counted = _work.ToList();
            var ended = await Task.WhenAll(counted.Select(EndedAsync));
            for (int i = 0; i < counted.Count; i++)
                if (ended[i]) _work.Remove(counted[i]);
        }
        if (_work.Count >= limit) return -1;
        _work.Add((campaign, workId));
        return _work.Count;
    }

    async Task<bool> EndedAsync((bool Campaign, string Id) work)
    {
        try
        {
            if (work.Campaign) return (await GrainFactory.GetGrain<ICampaignGrain>(work.Id).GetStatus()).Finished;
            var status = await GrainFactory.GetGrain<IMatchingJobGrain>(work.Id).GetStatus();
            return status.Finished || status.Cancelled;
        }
        catch (Exception e) when (Transient.Is(e))
        {
            return false; // unknown for now: still counted, asked again at the next refusal
        }
    }
}
