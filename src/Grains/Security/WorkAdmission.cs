using Microsoft.Extensions.Options;

namespace Magneton.Grains;

/// <summary>
/// Bounds the work each client has in flight (<see cref="ClientWorkOptions.MaxInFlight"/>): a client's Start of a
/// comparison or campaign that is not finished yet is counted against its owner (<see cref="Owner"/>) by
/// <see cref="IClientWorkGrain"/>, and refused with one line (exit 2 in the CLI) beyond the bound. Asking again for work
/// already counted, or for finished work (its report), is never refused; comparisons a campaign grain starts are the
/// campaign's, not counted again. Clients may not call <see cref="IClientWorkGrain"/> themselves.
/// </summary>
public sealed class WorkAdmission(ICallerAuthority callers, IGrainFactory grains, IOptions<ClientWorkOptions> options) : IIncomingGrainCallFilter
{
    readonly int _limit = options.Value.MaxInFlight;

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.SourceId is { } source && GrainTypePrefix.IsClient(source))
        {
            if (context.InterfaceMethod.DeclaringType == typeof(IClientWorkGrain))
                throw new AccessDeniedException("IClientWorkGrain keeps the cluster's own count of client work; clients do not call it");
            if (await NewWorkAsync(context) is { } work)
            {
                var caller = callers.Current();
                var counted = await grains.GetGrain<IClientWorkGrain>(Owner(caller, source)).Admit(work.Campaign, work.Id, _limit);
                if (counted < 0)
                    throw new MagnetonInputException(
                        $"{(caller.Identified ? "certificate " + caller.Name : "this client")} has {_limit} comparisons or campaigns in flight already, "
                        + "the most one client may have (magneton silo --max-work-per-client); wait for one to finish, or cancel one");
            }
        }
        await context.Invoke();
    }

    /// <summary>
    /// Whose quota a client's work counts against: the subject of its verified certificate when the cluster has TLS (every
    /// connection with that certificate shares it), otherwise its client connection (a cluster without TLS identifies nobody).
    /// </summary>
    public static string Owner(Caller caller, GrainId client) =>
        caller.Identified ? "cert:" + caller.Name : "client:" + client;

    /// <summary>The job or campaign a Start would run, or null (another call, or work already finished).</summary>
    static async Task<(bool Campaign, string Id)?> NewWorkAsync(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod.Name != nameof(IMatchingJobGrain.Start)) return null;
        // The grain itself (this call runs in its activation): its status is read directly, no message.
        return context.Grain switch
        {
            IMatchingJobGrain job when !(await job.GetStatus()).Finished => (false, context.TargetId.Key.ToString()!),
            ICampaignGrain campaign when !(await campaign.GetStatus()).Finished => (true, context.TargetId.Key.ToString()!),
            _ => null,
        };
    }
}
