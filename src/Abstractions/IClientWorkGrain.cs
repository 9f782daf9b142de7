namespace Magneton.Grains;

/// <summary>
/// The comparisons and campaigns one client has in flight (key: the owner, see <c>WorkAdmission.Owner</c>): the
/// cluster's own bookkeeping of the per-client bound, called by the silos' admission filter only (a client's call is
/// refused, so no client can fill another's quota). Held in memory: losing its silo forgets the count, which only
/// lets a client start more until its work is counted again.
/// </summary>
[Alias("Magneton.IClientWorkGrain")]
public interface IClientWorkGrain : IGrainWithStringKey
{
    /// <summary>
    /// Counts the job (<paramref name="campaign"/> false) or campaign <paramref name="workId"/> against this owner unless it
    /// is counted already; returns how many unfinished ones the owner holds, or -1 (not counted) when that is <paramref name="limit"/> already.
    /// </summary>
    [Alias("Admit")] Task<int> Admit(bool campaign, string workId, int limit);
}
