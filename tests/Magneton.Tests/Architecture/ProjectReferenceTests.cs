using System.Xml.Linq;
using Magneton.Tests.Grains;
using Xunit;

namespace Magneton.Tests.Architecture;

/// <summary>
/// The projects reference each other and the server packages only as docs/ARCHITECTURE.md's table allows: Core
/// stays free of Orleans, the contract assembly free of server packages, GpuWorker free of the cluster. A new
/// reference that breaks this fails here with the project and the reference; change the table and this test together.
/// </summary>
public class ProjectReferenceTests
{
    static readonly string[] ServerPackages =
    [
        "Microsoft.Orleans.Server", "Microsoft.Orleans.Runtime", "Azure.Storage.Blobs", "Npgsql",
        "Microsoft.Orleans.Hosting.Kubernetes", "Microsoft.Orleans.Clustering.AdoNet",
        "Microsoft.Orleans.Persistence.AzureStorage", "Microsoft.Orleans.Persistence.Memory",
    ];

    public static TheoryData<string, string[]> AllowedProjects => new()
    {
        { "Core/Magneton.Core.csproj", [] },
        { "Abstractions/Magneton.Abstractions.csproj", ["Core"] },
        { "GpuWorker/Magneton.GpuWorker.csproj", ["Core"] },
        { "Grains/Magneton.Grains.csproj", ["Abstractions"] },
        { "Silo/Magneton.Silo.csproj", ["Grains"] },
        { "Client/Magneton.Client.csproj", ["Silo", "GpuWorker"] },
    };

    [Theory, MemberData(nameof(AllowedProjects))]
    public void A_project_references_only_the_projects_the_table_allows(string project, string[] allowed)
    {
        var referenced = References(project, "ProjectReference")
            .Select(r => Path.GetFileName(Path.GetDirectoryName(r.Replace('\\', '/')))!)
            .Order().ToArray();
        Assert.Equal(allowed.Order().ToArray(), referenced);
    }

    [Theory]
    [InlineData("Core/Magneton.Core.csproj")]
    [InlineData("Abstractions/Magneton.Abstractions.csproj")]
    [InlineData("GpuWorker/Magneton.GpuWorker.csproj")]
    public void Core_the_contracts_and_the_capture_side_carry_no_server_package(string project)
    {
        var packages = References(project, "PackageReference");
        Assert.Empty(packages.Intersect(ServerPackages));
        if (!project.StartsWith("Abstractions", StringComparison.Ordinal))
            Assert.DoesNotContain(packages, p => p.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
    }

    /// <summary>The check reads what it claims: the Silo project does carry the server packages.</summary>
    [Fact]
    public void The_reader_sees_the_silos_server_packages()
    {
        Assert.Contains("Microsoft.Orleans.Server", References("Silo/Magneton.Silo.csproj", "PackageReference"));
    }

    static string[] References(string project, string element) =>
        XDocument.Load(Path.Combine(TestRepo.Root, "src", project))
            .Descendants(element)
            .Select(e => (string?)e.Attribute("Include") ?? "")
            .ToArray();
}
