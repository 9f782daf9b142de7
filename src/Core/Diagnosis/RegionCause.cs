namespace Magneton.Core.Diagnosis;

/// <summary>
/// Why one site's regions differ: the cause kind (layout, redundant, operator-set, kernel-choice, config, unknown)
/// and the key that sites of the same cause share (what differs and the module class), which makes them one finding.
/// </summary>
public sealed record RegionCause(string Kind, string Key);
