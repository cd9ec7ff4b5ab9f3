# Sourced by the offline builds (deploy/sandbox/build-offline.sh,
# deploy/images/build-cache.sh): sets SUITE and MIRROR, the Debian suite and
# mirror that debootstrap uses. The mirror is the first one of the host's
# apt sources, so the build works wherever apt does; LABDECK_DEBIAN_MIRROR
# and LABDECK_DEBIAN_SUITE override them. Returns 1 if no mirror is found.
SUITE=${LABDECK_DEBIAN_SUITE:-bookworm}
MIRROR=${LABDECK_DEBIAN_MIRROR:-$( (grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | head -n1 | awk '{print $2}') || true)}
# One-line format; skips an options field such as [signed-by=...].
[ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb"{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
if [ -z "$MIRROR" ]; then
  echo "no Debian mirror found in the apt sources; set LABDECK_DEBIAN_MIRROR" >&2
  return 1
fi
