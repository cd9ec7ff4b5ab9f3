#!/usr/bin/env bash
# Vendor xterm.js and its addons into static/vendor/xterm/.
#
# The site serves these files itself (no CDN, no JS build step), so this script
# is the one place where the versions are chosen. To upgrade: change the pins,
# run the script, check the UMD globals static/js/terminal.js uses still exist,
# and commit the result.
#
# Usage: deploy/vendor-xterm.sh        (from anywhere inside the repo)
set -euo pipefail

XTERM_VERSION="6.0.0"
ADDON_FIT_VERSION="0.11.0"
ADDON_WEB_LINKS_VERSION="0.12.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/static/vendor/xterm"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A throwaway package so npm does not touch the repo or any parent package.json.
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
    "@xterm/xterm@${XTERM_VERSION}" \
    "@xterm/addon-fit@${ADDON_FIT_VERSION}" \
    "@xterm/addon-web-links@${ADDON_WEB_LINKS_VERSION}" >/dev/null

mods="$work/node_modules/@xterm"

# Fail loudly if npm resolved something other than the pins.
check_version() {
    local pkg="$1" want="$2" got
    got="$(node -p "require('$mods/$pkg/package.json').version")"
    if [[ "$got" != "$want" ]]; then
        echo "vendor-xterm: @xterm/$pkg is $got, expected $want" >&2
        exit 1
    fi
}
check_version xterm "$XTERM_VERSION"
check_version addon-fit "$ADDON_FIT_VERSION"
check_version addon-web-links "$ADDON_WEB_LINKS_VERSION"

# Copy a file, stripping the trailing sourceMappingURL comment: the maps are not
# vendored, and a dangling reference makes browsers log 404s in dev tools.
copy_js() {
    sed '/^\/\/# sourceMappingURL=/d' "$1" >"$2"
}

mkdir -p "$dest"
rm -f "$dest"/*

copy_js "$mods/xterm/lib/xterm.js" "$dest/xterm.js"
cp "$mods/xterm/css/xterm.css" "$dest/xterm.css"
copy_js "$mods/addon-fit/lib/addon-fit.js" "$dest/addon-fit.js"
copy_js "$mods/addon-web-links/lib/addon-web-links.js" "$dest/addon-web-links.js"

cp "$mods/xterm/LICENSE" "$dest/LICENSE-xterm"
cp "$mods/addon-fit/LICENSE" "$dest/LICENSE-addon-fit"
cp "$mods/addon-web-links/LICENSE" "$dest/LICENSE-addon-web-links"

cat >"$dest/VERSIONS" <<EOF
@xterm/xterm@${XTERM_VERSION}
@xterm/addon-fit@${ADDON_FIT_VERSION}
@xterm/addon-web-links@${ADDON_WEB_LINKS_VERSION}
EOF

echo "vendor-xterm: wrote $(cd "$dest" && ls | tr '\n' ' ')to ${dest#"$repo_root"/}"
