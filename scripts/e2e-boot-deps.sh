#!/usr/bin/env bash
# e2e-boot-deps.sh CACHE — what `make test-e2e` needs for the real boot:
# QEMU, OVMF (Secure Boot code and the Microsoft-keyed and plain vars), swtpm
# and mtools from Debian's packages (installed), and the signed boot chain
# (shim-signed, grub-efi-amd64-signed, Debian's signed kernel) downloaded and
# unpacked under CACHE/debs, not installed, so nothing on this machine's /boot
# or its bootloader changes.
set -euo pipefail
cache=${1:?usage: e2e-boot-deps.sh CACHE_DIR}
mkdir -p "$cache/debs"

need=()
for p in qemu-system-x86 ovmf swtpm swtpm-tools mtools dosfstools cpio; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || need+=("$p")
done
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
if [ ${#need[@]} -gt 0 ]; then
  echo "e2e-boot-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-57-amd64.
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "e2e-boot-deps: cannot tell which kernel linux-image-amd64 depends on (apt-get update?)" >&2; exit 1; }
root="$cache/debs/root"
stamp="$cache/debs/.unpacked-$kpkg"
if [ ! -e "$stamp" ]; then
  rm -rf "$root" && mkdir -p "$root"
  (cd "$cache/debs" && apt-get download -qq shim-signed grub-efi-amd64-signed "$kpkg")
  for d in "$cache"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
  touch "$stamp"
fi
ls "$root"/usr/lib/shim/shimx64.efi.signed "$root"/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed "$root"/boot/vmlinuz-* >/dev/null
echo "e2e-boot-deps: ready in $cache"
