# cloudsync runbook loader. Started as: powershell.exe -NoProfile -NonInteractive -EncodedCommand <this>
# with stdin in pipe mode (WINRS_CONSOLEMODE_STDIN=FALSE). It holds no secret and no user value.
# It reads one frame per line from stdin AS DATA:
#   S <name> <user> <password>       (each field base64 of UTF-8)
#       -> $Secrets[name] becomes a PSCredential. The frame is parsed with .NET string methods and
#          the SecureString is built one character at a time, so no cmdlet ever receives the
#          password: Module Logging (event 4103) records cmdlet parameter bindings, and
#          ConvertFrom-Json $line or ConvertTo-SecureString -AsPlainText would put it there.
#   U <path>                         (base64 of UTF-8)
#       -> creates that file and holds it open for the D frames that follow (push staging)
#   D <bytes>                        (base64)
#       -> appended to the open file with FileStream.Write: the installer's bytes stay data,
#          never script text (Script Block Logging) nor a cmdlet argument (Module Logging)
#   {"type":"step","id":"install","check":"<ps text or empty>","script":"<ps text>"}
#       -> check (read-only) runs first; if it returns $true the step is skipped,
#          otherwise the script runs; one result line is written either way
#   {"type":"exit"}
# A step frame first closes an open U file, so its script hashes exactly what was written.
# Each result is one stdout line: @@CLOUDSYNC@@{"id":...,"status":"done|skipped|failed",...}
# (no banner: the first step's result proves the loader runs, and saves a WinRM round trip).
# The line is pure ASCII: any other character is written as a JSON \uXXXX escape, so what the
# worker reads does not depend on the console's code page (a localized error message, a name
# with an accent).
# A frame that cannot be read is answered with a failed result for id "frame", never ends the
# process. Progress records are silenced: with -EncodedCommand and stderr redirected, Windows
# PowerShell 5.1 writes each one to stderr as CLIXML, and Invoke-WebRequest's progress bar slows
# downloads by orders of magnitude (PowerShell issue 2138).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$Secrets = @{}
$upload = $null
$utf8 = [System.Text.Encoding]::UTF8
while ($true) {
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { break }
    if ($line.Trim() -eq '') { continue }
    $result = [ordered]@{ id = 'frame'; status = 'done'; output = $null; error = $null }
    try {
        if ($line.StartsWith('S ')) {
            $parts = $line.Split(' ')
            $line = $null
            $name = $utf8.GetString([System.Convert]::FromBase64String($parts[1]))
            $user = $utf8.GetString([System.Convert]::FromBase64String($parts[2]))
            $plain = $utf8.GetString([System.Convert]::FromBase64String($parts[3]))
            $parts = $null
            $secure = [System.Security.SecureString]::new()
            foreach ($ch in $plain.ToCharArray()) { $secure.AppendChar($ch) }
            $plain = $null
            $ch = $null
            $secure.MakeReadOnly()
            $Secrets[$name] = [System.Management.Automation.PSCredential]::new($user, $secure)
            $secure = $null
            continue
        }
        if ($line.StartsWith('D ')) {
            if ($null -eq $upload) { continue }
            $bytes = [System.Convert]::FromBase64String($line.Substring(2))
            $line = $null
            $upload.Write($bytes, 0, $bytes.Length)
            $bytes = $null
            continue
        }
        if ($line.StartsWith('U ')) {
            if ($null -ne $upload) { $upload.Dispose() }
            $upload = $null
            $upload = [System.IO.File]::Create($utf8.GetString([System.Convert]::FromBase64String($line.Substring(2))))
            continue
        }
        if ($null -ne $upload) { $upload.Dispose(); $upload = $null }
        $frame = ConvertFrom-Json $line
        if ($frame.type -eq 'exit') { break }
        $result.id = $frame.id
        if ($frame.check) {
            $done = & ([scriptblock]::Create($frame.check))
            if ($done -eq $true) { $result.status = 'skipped' }
        }
        if ($result.status -ne 'skipped') {
            $result.output = & ([scriptblock]::Create($frame.script))
        }
    } catch {
        if ($null -ne $upload) { try { $upload.Dispose() } catch { }; $upload = $null }
        $result.status = 'failed'
        $result.error = [ordered]@{
            message  = $_.Exception.Message
            id       = $_.FullyQualifiedErrorId
            category = "$($_.CategoryInfo.Category)"
        }
    }
    $json = ConvertTo-Json $result -Compress -Depth 6
    if ($json -match '[^\x00-\x7F]') {
        $ascii = [System.Text.StringBuilder]::new()
        foreach ($c in $json.ToCharArray()) {
            $n = [int]$c
            if ($n -lt 128) { [void]$ascii.Append($c) } else { [void]$ascii.Append('\u' + $n.ToString('x4')) }
        }
        $json = $ascii.ToString()
    }
    [Console]::Out.WriteLine('@@CLOUDSYNC@@' + $json)
}
