/*
 * A stand-in for Windows's bcryptprimitives.dll, for running portwho under wine in CI.
 *
 * Rust's standard library for windows-gnu imports ProcessPrng from bcryptprimitives.dll
 * (its source of random numbers, for HashMap's keys), which Debian's wine 8 lacks: every
 * Rust .exe then fails to start ("bcryptprimitives.dll not found", exit 53). This DLL,
 * placed beside the .exe, gives it ProcessPrng, filled from advapi32's RtlGenRandom
 * (exported as SystemFunction036), which wine has. Built by .ci/windows-test.sh with
 * x86_64-w64-mingw32-gcc; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
