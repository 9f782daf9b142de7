using System.Runtime.InteropServices;

namespace Magneton.Core.Bundles;

/// <summary>
/// Opens an input file for reading, only if it is a regular file: opening a FIFO blocks until a writer comes (for
/// ever, for a bundle), and a device such as /dev/zero or /dev/urandom never ends. The type is asked of the file
/// system before the open (statx follows links, so a link to a regular file is fine), which is the only way not to
/// hang in the open itself.
/// </summary>
public static partial class InputFile
{
    public static FileStream Open(string path, string file, int bufferSize = 1 << 16)
    {
        RequireRegular(path, file);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, FileOptions.SequentialScan);
    }

    /// <summary>Throws the one-line refusal when <paramref name="path"/> exists and is not a regular file or a directory.</summary>
    public static void RequireRegular(string path, string file)
    {
        if (Kind(path) is { } kind)
            throw new BundleException(file, "file", $"is not a regular file (a {kind}); only regular files are read");
    }

    /// <summary>What the path is if it is something other than a regular file or a directory; null otherwise or when unknown.</summary>
    static string? Kind(string path)
    {
        if (!OperatingSystem.IsLinux()) return null; // FIFOs and devices named in a bundle are a Unix matter; statx is Linux's
        int mode;
        try
        {
            mode = StatxMode(path);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null; // a libc without statx (before glibc 2.28): read as before
        }
        if (mode < 0) return null; // a path that cannot be stat'ed: the open says why
        return (mode & TypeMask) switch
        {
            Regular or Directory => null,
            Fifo => "FIFO",
            CharacterDevice => "character device",
            BlockDevice => "block device",
            Socket => "socket",
            _ => "special file",
        };
    }

    const int TypeMask = 0xF000, Fifo = 0x1000, CharacterDevice = 0x2000, Directory = 0x4000, BlockDevice = 0x6000,
        Regular = 0x8000, Socket = 0xC000;

    const int AtCurrentDirectory = -100;
    const uint StatxType = 0x1;

    static unsafe int StatxMode(string path)
    {
        // struct statx is 256 bytes, the same on every architecture; stx_mode is the u16 at offset 28.
        byte* buffer = stackalloc byte[256];
        if (Statx(AtCurrentDirectory, path, 0, StatxType, buffer) != 0) return -1;
        return *(ushort*)(buffer + 28);
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int directory, string path, int flags, uint mask, byte* buffer);
}
