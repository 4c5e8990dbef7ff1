; Amtsstube for Windows – the installer, built on Debian with makensis (NSIS 3):
;   installer/package-windows.sh (make package-windows)
; It needs no downloads: plain NSIS with its own Modern UI and German texts.
;
; Silent installation for software distribution (baramundi, Intune, GPO scripts):
;   amtsstube-<version>-setup.exe /S [/D=C:\Programme\Amtsstube]
;       [/DATENORDNER=D:\Amtsstube\daten] [/KEINDESKTOP]
;   /S             no questions
;   /D=…           installation folder (last argument, no quotes, as NSIS wants it)
;   /DATENORDNER=… one data folder for every Windows account of this PC (sets the
;                  machine-wide AMTSSTUBE_DATA_DIR; the folder gets an access list:
;                  SYSTEM and Administratoren full, Benutzer change – no one else).
;                  Without it each Windows account keeps its own store in
;                  %LOCALAPPDATA%\amtsstube.
;   /KEINDESKTOP   no shortcut on the desktop (the start menu entry stays)
; Uninstall: "<installation folder>\deinstallieren.exe" /S [/DATENLOESCHEN]
;   The data stay unless /DATENLOESCHEN is given, and even then only the data folder
;   set with /DATENORDNER is removed – never a user profile.
;
; Defines from the build script: FAST (zlib instead of LZMA, for tests), VERSION, SOURCE (folder with amtsstube.exe and,
; unless NO_APP is defined, amtsstube-app.exe and WebView2Loader.dll), OUTFILE,
; ICON.

Target amd64-unicode
ManifestDPIAware true
!ifdef FAST
  SetCompressor zlib
!else
  SetCompressor /SOLID lzma
!endif

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "WinMessages.nsh"
!include "x64.nsh"

!ifndef VERSION
  !error "VERSION fehlt (-DVERSION=…)"
!endif
!ifndef SOURCE
  !error "SOURCE fehlt (-DSOURCE=Ordner mit amtsstube.exe)"
!endif
!ifndef OUTFILE
  !define OUTFILE "amtsstube-${VERSION}-setup.exe"
!endif

!define PRODUCT "Amtsstube"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Amtsstube"
!define ENV_KEY "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"
!define APP_KEY "Software\Amtsstube"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${PRODUCT}"
RequestExecutionLevel admin
BrandingText "${PRODUCT} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=1031 "ProductName" "${PRODUCT}"
VIAddVersionKey /LANG=1031 "FileDescription" "${PRODUCT} – Einrichtung"
VIAddVersionKey /LANG=1031 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1031 "LegalCopyright" "EUPL-1.2"

!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif
!define MUI_ABORTWARNING
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "German"

Var DataDir
Var NoDesktop

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "Amtsstube braucht ein 64-Bit-Windows (Windows 10 oder 11)." /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/DATENORDNER=" $DataDir
  ${If} ${Errors}
    StrCpy $DataDir ""
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/KEINDESKTOP" $R1
  ${IfNot} ${Errors}
    StrCpy $NoDesktop "1"
  ${EndIf}
FunctionEnd

Section "Amtsstube" SecMain
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  File "${SOURCE}\amtsstube.exe"
!ifndef NO_APP
  File "${SOURCE}\amtsstube-app.exe"
  File "${SOURCE}\WebView2Loader.dll"
  !define START "$INSTDIR\amtsstube-app.exe"
!else
  ; Without the window (test builds): the shortcut opens a console with the CLI.
  !define START "$INSTDIR\amtsstube.exe"
!endif
  File "${SOURCE}\LIESMICH.txt"

  ${If} $DataDir != ""
    CreateDirectory "$DataDir"
    ; SYSTEM (S-1-5-18) and Administratoren (S-1-5-32-544) full, Benutzer
    ; (S-1-5-32-545) change; nothing inherited from the parent folder.
    nsExec::ExecToLog 'icacls "$DataDir" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *S-1-5-32-545:(OI)(CI)M'
    Pop $0
    WriteRegExpandStr HKLM "${ENV_KEY}" "AMTSSTUBE_DATA_DIR" "$DataDir"
    WriteRegStr HKLM "${APP_KEY}" "Datenordner" "$DataDir"
    SendMessage ${HWND_BROADCAST} ${WM_SETTINGCHANGE} 0 "STR:Environment" /TIMEOUT=5000
  ${EndIf}

  CreateDirectory "$SMPROGRAMS\${PRODUCT}"
  CreateShortcut "$SMPROGRAMS\${PRODUCT}\${PRODUCT}.lnk" "${START}"
  CreateShortcut "$SMPROGRAMS\${PRODUCT}\${PRODUCT} deinstallieren.lnk" "$INSTDIR\deinstallieren.exe"
  ${If} $NoDesktop != "1"
    CreateShortcut "$DESKTOP\${PRODUCT}.lnk" "${START}"
  ${EndIf}

  WriteUninstaller "$INSTDIR\deinstallieren.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "${PRODUCT}"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\deinstallieren.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\deinstallieren.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "Uninstall"
  SetShellVarContext all
  Delete "$INSTDIR\amtsstube.exe"
  Delete "$INSTDIR\amtsstube-app.exe"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\LIESMICH.txt"
  Delete "$INSTDIR\deinstallieren.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${PRODUCT}\${PRODUCT}.lnk"
  Delete "$SMPROGRAMS\${PRODUCT}\${PRODUCT} deinstallieren.lnk"
  RMDir "$SMPROGRAMS\${PRODUCT}"
  Delete "$DESKTOP\${PRODUCT}.lnk"

  ; The clerks' data stay unless asked for, and then only the folder set at
  ; installation.
  ReadRegStr $1 HKLM "${APP_KEY}" "Datenordner"
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/DATENLOESCHEN" $R1
  ${IfNot} ${Errors}
    ${If} $1 != ""
      RMDir /r "$1"
    ${EndIf}
    ; Only with the data gone does the pointer to them go; otherwise a new
    ; installation finds them again.
    DeleteRegValue HKLM "${ENV_KEY}" "AMTSSTUBE_DATA_DIR"
    DeleteRegKey HKLM "${APP_KEY}"
  ${EndIf}
  DeleteRegKey HKLM "${UNINST_KEY}"
  SendMessage ${HWND_BROADCAST} ${WM_SETTINGCHANGE} 0 "STR:Environment" /TIMEOUT=5000
SectionEnd
