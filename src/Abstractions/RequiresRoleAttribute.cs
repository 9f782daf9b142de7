namespace Magneton.Grains;

/// <summary>
/// A grain method a caller may call only with one of these roles (checked by <see cref="RoleFilter"/> before the
/// grain runs). Methods without it need only a caller the cluster accepts.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresRoleAttribute(ClusterRoles anyOf) : Attribute
{
    public ClusterRoles AnyOf { get; } = anyOf;
}
