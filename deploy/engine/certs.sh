#!/usr/bin/env bash
# The certificates of mutual TLS between Labdeck and its sandbox engines:
# one certificate authority, a server certificate per engine, and the client
# certificate that Labdeck's processes present. Idempotent: what exists is
# kept (remove the directory to start over).
#
#   certs.sh DIR ca                         DIR/ca.pem, DIR/ca-key.pem
#   certs.sh DIR server NAME ADDRESS...     DIR/NAME/{ca,cert,key}.pem, for an engine
#                                           reached at these IP addresses or names
#   certs.sh DIR client                     DIR/client/{ca,cert,key}.pem, for Labdeck
#
# Copy DIR/NAME/ to the engine's host (LABDECK_ENGINE_TLS_DIR) and
# DIR/client/ to Labdeck's (LABDECK_TLS_DIR). The CA key stays where it was made.
set -euo pipefail
DIR=${1:?usage: certs.sh DIR ca|server NAME ADDRESS...|client}
WHAT=${2:?usage: certs.sh DIR ca|server NAME ADDRESS...|client}
DAYS=${LABDECK_CERT_DAYS:-825}
mkdir -p "$DIR"
umask 077

ca() {
  [ -f "$DIR/ca.pem" ] && return 0
  openssl req -x509 -new -nodes -newkey rsa:3072 -sha256 -days "$DAYS" -subj "/CN=Labdeck sandbox engines CA" \
    -keyout "$DIR/ca-key.pem" -out "$DIR/ca.pem" 2>/dev/null
}

# sign OUT_DIR SUBJECT EXTENSIONS
sign() {
  local out=$1 subject=$2 extensions=$3
  [ -f "$out/cert.pem" ] && return 0
  mkdir -p "$out"
  openssl req -new -nodes -newkey rsa:3072 -sha256 -subj "$subject" -keyout "$out/key.pem" -out "$out/req.pem" 2>/dev/null
  printf '%s\n' "$extensions" > "$out/ext.cnf"
  openssl x509 -req -sha256 -days "$DAYS" -in "$out/req.pem" -CA "$DIR/ca.pem" -CAkey "$DIR/ca-key.pem" \
    -CAcreateserial -extfile "$out/ext.cnf" -out "$out/cert.pem" 2>/dev/null
  cp "$DIR/ca.pem" "$out/ca.pem"
  rm -f "$out/req.pem" "$out/ext.cnf"
  chmod 0644 "$out/ca.pem" "$out/cert.pem"
}

case "$WHAT" in
  ca) ca ;;
  server)
    name=${3:?usage: certs.sh DIR server NAME ADDRESS...}
    shift 3
    [ "$#" -gt 0 ] || { echo "certs.sh: give the engine's addresses" >&2; exit 2; }
    ca
    alt=""
    for address in "$@"; do
      if [[ "$address" =~ ^[0-9.]+$|: ]]; then alt+="IP:$address,"; else alt+="DNS:$address,"; fi
    done
    sign "$DIR/$name" "/CN=$name" "subjectAltName=${alt%,}
extendedKeyUsage=serverAuth"
    ;;
  client)
    ca
    sign "$DIR/client" "/CN=labdeck" "extendedKeyUsage=clientAuth"
    ;;
  *) echo "certs.sh: unknown '$WHAT' (ca, server or client)" >&2; exit 2 ;;
esac
