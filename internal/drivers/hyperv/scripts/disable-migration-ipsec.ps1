$ErrorActionPreference = 'Stop'
# disable-migration-ipsec: removes the rules, crypto set and auth set that
# enable-migration-ipsec created on this node (by their tlreconcile names; nothing else),
# so that a cluster-wide enable that failed on one node leaves no node requiring IPsec that
# its peers cannot speak. Parameters: {}.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$removed = $false
foreach ($name in @('tlreconcile-live-migration-in', 'tlreconcile-live-migration-out')) {
    if ($null -ne (Get-NetIPsecRule -Name $name -ErrorAction SilentlyContinue)) { Remove-NetIPsecRule -Name $name -ErrorAction Stop; $removed = $true }
}
if ($null -ne (Get-NetIPsecQuickModeCryptoSet -Name 'tlreconcile-live-migration-esp' -ErrorAction SilentlyContinue)) { Remove-NetIPsecQuickModeCryptoSet -Name 'tlreconcile-live-migration-esp' -ErrorAction Stop }
if ($null -ne (Get-NetIPsecPhase1AuthSet -Name 'tlreconcile-live-migration-auth' -ErrorAction SilentlyContinue)) { Remove-NetIPsecPhase1AuthSet -Name 'tlreconcile-live-migration-auth' -ErrorAction Stop }
Get-TlrResult 'tlreconcile live-migration IPsec rules removed' $removed
