# cloudsync runbook loader. Started as: powershell.exe -NoProfile -NonInteractive -EncodedCommand <this>
# It holds no secret and no user value. It reads one JSON frame per line from stdin AS DATA:
#   {"type":"secret","name":"entra","user":"admin@contoso.com","password":"..."}
#       -> $Secrets['entra'] becomes a PSCredential (the password never becomes script text)
#   {"type":"step","id":"install","check":"<ps text or empty>","script":"<ps text>"}
#       -> check (read-only) runs first; if it returns $true the step is skipped,
#          otherwise the script runs; one result line is written either way
#   {"type":"exit"}
# Each result is one stdout line: @@CLOUDSYNC@@{"id":...,"status":"done|skipped|failed",...}
# (no banner: the first step's result proves the loader runs, and saves a WinRM round trip)
$ErrorActionPreference = 'Stop'
$Secrets = @{}
while ($true) {
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { break }
    if ($line.Trim() -eq '') { continue }
    $frame = ConvertFrom-Json $line
    if ($frame.type -eq 'exit') { break }
    if ($frame.type -eq 'secret') {
        $secure = ConvertTo-SecureString $frame.password -AsPlainText -Force
        $Secrets[$frame.name] = New-Object System.Management.Automation.PSCredential($frame.user, $secure)
        $frame = $null
        $secure = $null
        continue
    }
    $result = [ordered]@{ id = $frame.id; status = 'done'; output = $null; error = $null }
    try {
        if ($frame.check) {
            $done = & ([scriptblock]::Create($frame.check))
            if ($done -eq $true) { $result.status = 'skipped' }
        }
        if ($result.status -ne 'skipped') {
            $result.output = & ([scriptblock]::Create($frame.script))
        }
    } catch {
        $result.status = 'failed'
        $result.error = [ordered]@{
            message  = $_.Exception.Message
            id       = $_.FullyQualifiedErrorId
            category = "$($_.CategoryInfo.Category)"
        }
    }
    [Console]::Out.WriteLine('@@CLOUDSYNC@@' + (ConvertTo-Json $result -Compress -Depth 6))
}
