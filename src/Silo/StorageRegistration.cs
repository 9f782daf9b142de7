using Magneton.Grains;
using Orleans.Hosting;

namespace Magneton.Silo;

public static class StorageRegistration
{
    /// <summary>Registers the bundle store (if any) and the grain storage providers Magneton's grains use.</summary>
    public static ISiloBuilder AddMagnetonStorage(this ISiloBuilder silo, MagnetonStorageOptions? storage)
    {
        // STUB: memory only until the directory and blob stores land.
        silo.AddMemoryGrainStorage(GrainServiceRegistration.RunStorage);
        silo.AddMemoryGrainStorage(GrainServiceRegistration.JobStorage);
        return silo;
    }
}
