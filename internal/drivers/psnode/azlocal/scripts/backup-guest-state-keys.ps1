$ErrorActionPreference = 'Stop'
# backup-guest-state-keys: Backup-TVMKeys (Azure Local 2505+, TvmBackupUtils.psm1) with one
# difference: the keys are exported into a folder whose name starts with '.', renamed to its
# timestamp (yyyyMMddHHmmss) only when every key is in it, so an interrupted backup never
# looks complete. Each key of the MOC key vault AzureStackTvmKeyVault is exported wrapped
# under the RSA public key at wrappingKeyPath (Export-MocKey): no key leaves the vault in
# plain text and none passes through tlreconcile. Parameters: wrappingKeyPath, backupRoot.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$wrap = [string]$p.wrappingKeyPath
$root = [string]$p.backupRoot
if (-not $wrap -or -not (Test-Path -LiteralPath $wrap -PathType Leaf)) {
    Stop-Tlr 'precondition' ('node: wrapping key {0} is not there; copy the public key (PEM) of your wrapping key pair to the node' -f $wrap)
}
if (-not $root) { Stop-Tlr 'invalid_argument' 'node: backup-guest-state-keys needs backupRoot' }
$stamp = Get-Date -Format 'yyyyMMddHHmmss'
$final = Join-Path $root $stamp
if (Test-Path -LiteralPath $final) { Stop-Tlr 'already_exists' ('node: backup {0} already exists; retry in a second' -f $final) }
$staging = Join-Path $root ('.tlr-' + $stamp)
New-Item -ItemType Directory -Path (Join-Path $staging 'AES') -Force | Out-Null
New-Item -ItemType Directory -Path (Join-Path $staging 'RSA') -Force | Out-Null
$names = New-Object System.Collections.Generic.List[string]
foreach ($k in @(Get-MocKey -group 'AzureStackHostAttestation' -keyvaultName 'AzureStackTvmKeyVault')) {
    $kty = [string]$k.properties.kty
    if ($kty -ne 'AES' -and $kty -ne 'RSA') { continue }
    $size = [int]$k.properties.key_size
    $out = Join-Path (Join-Path $staging $kty) ('{0}_{1}.json' -f $k.Name, $size)
    Export-MocKey -name ([string]$k.Name) -wrappingPubKeyFile $wrap -outFile $out -group 'AzureStackHostAttestation' -keyvaultName 'AzureStackTvmKeyVault' -size $size | Out-Null
    $names.Add([string]$k.Name)
}
Rename-Item -LiteralPath $staging -NewName $stamp
[pscustomobject]@{ Changed = $true; Message = ('{0} keys backed up' -f $names.Count); Folder = $stamp; Keys = @($names | Sort-Object) }
