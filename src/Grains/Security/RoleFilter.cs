using System.Collections.Concurrent;
using System.Reflection;

namespace Magneton.Grains;

/// <summary>
/// Checks <see cref="RequiresRoleAttribute"/> of the called interface method against the caller
/// (<see cref="ICallerAuthority"/>); a caller without one of its roles gets <see cref="AccessDeniedException"/>
/// and the grain does not run. On a cluster without TLS every caller has every role.
/// </summary>
public sealed class RoleFilter(ICallerAuthority callers) : IIncomingGrainCallFilter
{
    readonly ConcurrentDictionary<MethodInfo, ClusterRoles?> _required = new();

    public Task Invoke(IIncomingGrainCallContext context)
    {
        var required = _required.GetOrAdd(context.InterfaceMethod, m => m.GetCustomAttribute<RequiresRoleAttribute>()?.AnyOf);
        if (required is { } anyOf)
        {
            var caller = callers.Current();
            if ((caller.Roles & anyOf) == 0)
                throw new AccessDeniedException(
                    $"not allowed to call {context.InterfaceMethod.DeclaringType?.Name}.{context.InterfaceMethod.Name}: "
                    + $"{(caller.Name is null ? "no valid client certificate" : "certificate " + caller.Name)} has none of the roles "
                    + string.Join(", ", Enum.GetValues<ClusterRoles>().Where(r => r is not (ClusterRoles.None or ClusterRoles.All) && anyOf.HasFlag(r)).Select(Caller.RoleName)));
        }
        return context.Invoke();
    }
}
