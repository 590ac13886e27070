#!/usr/bin/env bash
# Makes sure the wallet's browser test can run: Debian's chromium (driven by Playwright through
# executable_path=/usr/bin/chromium; Playwright's own browser download cannot work here) and a CJK
# font (without one, Chinese renders as empty boxes). Installs only what is missing; quiet when all is there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
has_cjk_font() {  # fc-list read in full first: `grep -q` closing the pipe early would fail under pipefail
  local fonts
  fonts=$(fc-list 2>/dev/null || true)
  grep -qi "Noto Sans CJK" <<<"$fonts"
}
if ! command -v fc-list >/dev/null 2>&1 || ! has_cjk_font; then
  need+=(fonts-noto-cjk)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "wallet browser test: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
runas=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install ${need[*]}" >&2; exit 1; }
  runas=(sudo -E)
fi
"${runas[@]}" apt-get update -qq >/dev/null
"${runas[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium is still missing after install" >&2; exit 1; }
has_cjk_font || { echo "Noto Sans CJK is still missing after install" >&2; exit 1; }
