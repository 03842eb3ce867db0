#!/usr/bin/env bash
# Installs what the tests and the demo need when it is missing, and nothing else.
# Debian packages: swtpm (real vTPM processes), tpm2-tools (EK cross-check),
# libssl-dev + gcc (the cgo reference TPM). Node packages: the PowerShell grammar
# used to parse every embedded .ps1 script.
set -euo pipefail

need_apt=()
command -v swtpm >/dev/null 2>&1 || need_apt+=(swtpm)
command -v swtpm_setup >/dev/null 2>&1 || need_apt+=(swtpm-tools)
command -v tpm2_createek >/dev/null 2>&1 || need_apt+=(tpm2-tools)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
[ -e /usr/include/openssl/evp.h ] || need_apt+=(libssl-dev)
if ! ls /usr/lib/*/libtss2-tcti-swtpm.so* >/dev/null 2>&1; then need_apt+=(libtss2-tcti-swtpm0); fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-deps: installing ${need_apt[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

psparse=internal/drivers/hyperv/psparse
if [ -f "$psparse/package.json" ]; then
  if ! command -v node >/dev/null 2>&1; then
    echo "install-deps: node is required for the PowerShell parse check: apt-get install nodejs npm" >&2
    exit 1
  fi
  if [ ! -d "$psparse/node_modules" ] || [ "$psparse/package.json" -nt "$psparse/node_modules" ]; then
    echo "install-deps: installing the PowerShell grammar (npm) in $psparse"
    (cd "$psparse" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
    touch "$psparse/node_modules"
  fi
fi
