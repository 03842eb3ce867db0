#!/usr/bin/env bash
# Installs what a make target needs when it is missing, and nothing else.
#
#   install-deps.sh [--dry-run] [demo|build|test]     (default: test)
#
# build, demo: gcc + libssl-dev (the cgo reference TPM). Nothing else: the demo
#   runs the sim driver with the reference TPM and parses no PowerShell, so it
#   needs neither node nor swtpm.
# test: also swtpm (real vTPM processes), tpm2-tools (EK cross-check), and
#   nodejs + npm with the node packages the tests run: the PowerShell grammar
#   (internal/drivers/hyperv/psparse) and yaml-language-server (scripts/yamlls).
# --dry-run prints what would be installed and changes nothing.
set -euo pipefail

dry_run=false
target=test
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=true ;;
    demo | build | test) target=$arg ;;
    *) echo "install-deps: unknown argument $arg (usage: install-deps.sh [--dry-run] [demo|build|test])" >&2; exit 1 ;;
  esac
done

need_apt=()
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
[ -e /usr/include/openssl/evp.h ] || need_apt+=(libssl-dev)
# make demo makes the key backup's wrapping key pair with the openssl command.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ "$target" = test ]; then
  command -v swtpm >/dev/null 2>&1 || need_apt+=(swtpm)
  command -v swtpm_setup >/dev/null 2>&1 || need_apt+=(swtpm-tools)
  command -v tpm2_createek >/dev/null 2>&1 || need_apt+=(tpm2-tools)
  if ! ls /usr/lib/*/libtss2-tcti-swtpm.so* >/dev/null 2>&1; then need_apt+=(libtss2-tcti-swtpm0); fi
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-deps: installing ${need_apt[*]} with apt-get"
  if ! $dry_run; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi

[ "$target" = test ] || exit 0

# npm_install DIR WHAT: the locked packages of DIR/package.json into
# DIR/node_modules, again only when package.json changed since.
npm_install() {
  local dir=$1 what=$2
  [ -f "$dir/package.json" ] || return 0
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package.json" -nt "$dir/node_modules" ]; then
    echo "install-deps: installing $what (npm) in $dir"
    $dry_run && return 0
    (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
    touch "$dir/node_modules"
  elif $dry_run; then
    echo "install-deps: $what (npm) in $dir is up to date"
  fi
}
npm_install internal/drivers/hyperv/psparse "the PowerShell grammar"
npm_install scripts/yamlls "yaml-language-server"
