/*
 * bcryptprimitives.dll for Wine 8 (Debian 12) only – never shipped.
 *
 * Rust's standard library takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll, which every Windows 10/11 has and Wine 8 lacks. The Wine
 * test harness (tests/tests/windows.rs) builds this file with mingw-w64 and puts the
 * DLL next to amtsstube.exe; ProcessPrng is answered by RtlGenRandom
 * (advapi32!SystemFunction036), Windows' own random source, which Wine has.
 */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
