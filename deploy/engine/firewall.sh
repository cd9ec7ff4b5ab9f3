#!/bin/sh
# What sandboxes may reach, as iptables rules of this host (or of the network
# namespace this runs in: the tests apply it to namespaces of their own).
# The sandbox engine runs with --iptables=false, so these rules are the only
# ones that touch its bridges, whose names start with LABDECK_BRIDGE_PREFIX:
#
# - nothing from a sandbox reaches this host's own services (INPUT);
# - no sandbox reaches another one, on the same bridge or another (this needs
#   br_netfilter, so that bridged frames pass through FORWARD), except the
#   nodes of one node set, on their own bridge ("$P-n…"): frames bridged
#   within it pass, routed ones (to another set) do not;
# - nothing new from outside reaches into a sandbox;
# - private, loopback, link-local (cloud metadata), shared and multicast
#   ranges are never reached;
# - the internet is reached only with LABDECK_SANDBOX_EGRESS=True (through
#   masquerading). What a sandbox needs by default (the image registry, the
#   apt repository) it serves itself, from the read-only image cache.
#
# Idempotent: the chains are emptied and filled again on every run.
set -eu
P=${LABDECK_BRIDGE_PREFIX:-ldk}
EGRESS=${LABDECK_SANDBOX_EGRESS:-False}
MARK=0x1d3
case "$EGRESS" in True|False) ;; *) echo "firewall: LABDECK_SANDBOX_EGRESS must be True or False, not '$EGRESS'" >&2; exit 2 ;; esac
BLOCKED="0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.0.0.0/24 192.168.0.0/16
198.18.0.0/15 224.0.0.0/3"

if [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables
else
  modprobe br_netfilter 2>/dev/null && echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables \
    || echo "firewall: warning: br_netfilter is missing; sandboxes on one bridge can reach each other" >&2
fi

rules() {  # rules IPTABLES FAMILY
  ipt=$1 family=$2
  chain() { $ipt -w -t "$1" -N "$2" 2>/dev/null || $ipt -w -t "$1" -F "$2"; }
  jump() { $ipt -w -t "$1" -C "$2" -j "$3" 2>/dev/null || $ipt -w -t "$1" -I "$2" 1 -j "$3"; }

  chain filter LABDECK-INPUT
  $ipt -w -A LABDECK-INPUT -i "$P+" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  $ipt -w -A LABDECK-INPUT -i "$P+" -j DROP
  jump filter INPUT LABDECK-INPUT

  chain filter LABDECK-FORWARD
  $ipt -w -A LABDECK-FORWARD -i "$P-n+" -o "$P-n+" -m physdev --physdev-is-bridged -j ACCEPT
  $ipt -w -A LABDECK-FORWARD -i "$P+" -o "$P+" -j DROP
  $ipt -w -A LABDECK-FORWARD -o "$P+" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  $ipt -w -A LABDECK-FORWARD -o "$P+" -j DROP
  if [ "$family" = 4 ] && [ "$EGRESS" = True ]; then
    for net in $BLOCKED; do $ipt -w -A LABDECK-FORWARD -i "$P+" -d "$net" -j DROP; done
    $ipt -w -A LABDECK-FORWARD -i "$P+" -j ACCEPT
  else
    $ipt -w -A LABDECK-FORWARD -i "$P+" -j DROP
  fi
  jump filter FORWARD LABDECK-FORWARD

  if [ "$family" = 4 ]; then
    chain mangle LABDECK-PREROUTING
    $ipt -w -t mangle -A LABDECK-PREROUTING -i "$P+" -j MARK --set-xmark "$MARK/0xffff"
    jump mangle PREROUTING LABDECK-PREROUTING
    chain nat LABDECK-POSTROUTING
    if [ "$EGRESS" = True ]; then
      $ipt -w -t nat -A LABDECK-POSTROUTING -m mark --mark "$MARK/0xffff" ! -o "$P+" -j MASQUERADE
    fi
    jump nat POSTROUTING LABDECK-POSTROUTING
  fi
}

rules iptables 4
# Sandbox networks carry no IPv6, but their bridges have link-local
# addresses: refuse IPv6 from them altogether.
if command -v ip6tables >/dev/null && ip6tables -w -L INPUT >/dev/null 2>&1; then
  rules ip6tables 6
fi
[ "$EGRESS" = True ] && echo 1 > /proc/sys/net/ipv4/ip_forward
exit 0
