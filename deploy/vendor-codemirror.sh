#!/usr/bin/env bash
# Vendor CodeMirror 6, the in-browser editor of the learner's files, into
# static/vendor/codemirror/ as one browser script.
#
# CodeMirror 6 ships ES modules only, so they are bundled here, once, with a
# pinned esbuild: the site still serves plain files and has no JS build step.
# The bundle is an IIFE that sets window.LabdeckCodeMirror to the pieces
# static/js/files.js puts together (the ENTRY below names them). Every
# package that ends up in the bundle is pinned, dependencies included, and
# checked: VERSIONS lists them, LICENSE-* are their licences.
#
# To upgrade: change the pins (a dependency's too, if npm wants another),
# run the script, check that static/js/files.js still finds what it uses,
# and commit the result.
#
# Usage: deploy/vendor-codemirror.sh        (from anywhere inside the repo)
set -euo pipefail

ESBUILD_VERSION="0.28.2"
# What the bundle holds: the editor, and the legacy modes for Dockerfiles,
# shell scripts and YAML (plain text needs none).
PACKAGES=(
    "@codemirror/state@6.7.6"
    "@codemirror/view@6.43.15"
    "@codemirror/commands@6.11.1"
    "@codemirror/language@6.13.1"
    "@codemirror/legacy-modes@6.5.5"
    "@codemirror/streamparser@6.0.0"
    "@lezer/common@1.5.5"
    "@lezer/highlight@1.2.5"
    "@marijn/find-cluster-break@1.0.4"
    "crelt@1.0.7"
    "style-mod@4.1.5"
    "w3c-keyname@2.2.8"
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$repo_root/static/vendor/codemirror"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A throwaway package so npm does not touch the repo or any parent package.json.
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
    "esbuild@${ESBUILD_VERSION}" "${PACKAGES[@]}" >/dev/null

version_of() {
    node -p "require('$work/node_modules/$1/package.json').version"
}
license_of() {
    node -p "require('$work/node_modules/$1/package.json').license"
}

got="$(version_of esbuild)"
if [[ "$got" != "$ESBUILD_VERSION" ]]; then
    echo "vendor-codemirror: esbuild is $got, expected $ESBUILD_VERSION" >&2
    exit 1
fi

cat >entry.mjs <<'ENTRY'
export {EditorState, Compartment} from "@codemirror/state";
export {EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
        highlightSpecialChars, drawSelection} from "@codemirror/view";
export {defaultKeymap, history, historyKeymap, indentWithTab} from "@codemirror/commands";
export {StreamLanguage, syntaxHighlighting, defaultHighlightStyle, indentOnInput,
        bracketMatching} from "@codemirror/language";
export {dockerFile} from "@codemirror/legacy-modes/mode/dockerfile";
export {shell} from "@codemirror/legacy-modes/mode/shell";
export {yaml} from "@codemirror/legacy-modes/mode/yaml";
ENTRY

node_modules/.bin/esbuild entry.mjs --bundle --format=iife --global-name=LabdeckCodeMirror \
    --minify --target=es2020 --legal-comments=none --metafile=meta.json \
    --outfile=codemirror.js --log-level=warning

# The packages the bundle really holds, each of them pinned above, at its pin.
bundled="$(node -e '
    const inputs = Object.keys(require("./meta.json").inputs);
    const names = new Set(inputs.map(p => (p.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/) || [])[1]).filter(Boolean));
    console.log([...names].sort().join("\n"));
')"
versions="" header=""
for name in $bundled; do
    pin=""
    for package in "${PACKAGES[@]}"; do
        [[ "${package%@*}" == "$name" ]] && pin="${package##*@}"
    done
    got="$(version_of "$name")"
    if [[ -z "$pin" || "$got" != "$pin" ]]; then
        echo "vendor-codemirror: the bundle holds $name@$got, pinned: ${pin:-nothing}" >&2
        exit 1
    fi
    versions+="$name@$got"$'\n'
    header+=" *   $name@$got ($(license_of "$name"))"$'\n'
done

mkdir -p "$dest"
rm -f "$dest"/*
{
    echo "/* CodeMirror 6 for Labdeck, built by deploy/vendor-codemirror.sh with esbuild@${ESBUILD_VERSION}"
    echo " * from these packages (their licences: LICENSE-* beside this file):"
    printf '%s' "$header"
    echo " */"
    cat codemirror.js
} >"$dest/codemirror.js"
for name in $bundled; do
    plain="${name#@}"
    cp "node_modules/$name/LICENSE" "$dest/LICENSE-${plain//\//-}"
done
printf '%s' "$versions" >"$dest/VERSIONS"
echo "built with esbuild@${ESBUILD_VERSION}" >>"$dest/VERSIONS"

echo "vendor-codemirror: wrote $(wc -c <"$dest/codemirror.js") bytes and $(ls "$dest" | wc -l) files to ${dest#"$repo_root"/}"
