/*
 * holdfile.exe PATH MILLISECONDS – what a virus scanner or the search indexer does
 * to a file for a moment: open it without FILE_SHARE_DELETE, so that nobody may
 * replace, rename or delete it, and close it again. Built by the Wine test harness
 * (tests/tests/windows.rs); never shipped.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc != 3)
        return 2;
    HANDLE h = CreateFileW(argv[1], GENERIC_READ, FILE_SHARE_READ, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return 3;
    printf("offen\n");
    fflush(stdout);
    Sleep((DWORD)_wtoi(argv[2]));
    CloseHandle(h);
    return 0;
}
