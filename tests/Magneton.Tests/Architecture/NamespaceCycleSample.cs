// A cycle for the test above to find: A.Left calls into B (in a method body), B.Right names A.Left (typeof in a field initializer).
namespace Magneton.Tests.Architecture.Sample.A
{
    static class Left
    {
        public static int Use() => new B.Right().Count;
    }
}

namespace Magneton.Tests.Architecture.Sample.B
{
    sealed class Right
    {
        public int Count;
        public System.Type? Owner = typeof(A.Left);
    }
}

namespace Magneton.Tests.Architecture.Sample.C
{
    static class Lone
    {
        public static int Use()
        {
            var right = new B.Right();
            return right.Count;
        }
    }
}
