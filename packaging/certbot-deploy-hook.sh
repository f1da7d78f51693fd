#!/bin/sh
# certbot deploy hook for Postern: after certbot has renewed a certificate,
# copy it and its key where the postern user can read them, check the
# configuration, and reload Postern (SIGHUP). A reload validates everything
# first and changes nothing on error; sessions already open finish on the
# old certificate.
#
# Use it for every renewal:
#   ln -s /usr/libexec/postern/certbot-deploy-hook.sh \
#       /etc/letsencrypt/renewal-hooks/deploy/postern
# or for one certificate:
#   certbot certonly ... --deploy-hook /usr/libexec/postern/certbot-deploy-hook.sh
# Test it without renewing:
#   RENEWED_LINEAGE=/etc/letsencrypt/live/mx.example.org \
#       /usr/libexec/postern/certbot-deploy-hook.sh
#
# certbot sets RENEWED_LINEAGE (/etc/letsencrypt/live/NAME). Settings, from
# the environment or edited here:
#   POSTERN_TLS_DIR   where copies go, as $POSTERN_TLS_DIR/NAME/fullchain.pem
#                     and privkey.pem (root:$POSTERN_GROUP, 0640). Copying
#                     happens only when this directory exists; point the
#                     configuration's certificate paths at the copies.
#                     /etc/letsencrypt/archive is readable by root only, and
#                     Postern's workers re-read keys on reload without root.
#   POSTERN_GROUP     the group Postern runs as
#   POSTERN_LINEAGES  lineage names to act on, space separated; empty = all
#   POSTERN_CONFIG    the configuration file
#   POSTERN_UNIT      the systemd unit
#   POSTERN           the postern binary
# Exit status: 0 when Postern was reloaded, when its systemd unit is not
# running, or when the lineage is not one of POSTERN_LINEAGES; 1 on any
# error, and without systemd also when no instance runs (certbot then
# reports the hook as failed; the renewed certificate stays in
# /etc/letsencrypt either way).
set -eu

POSTERN_TLS_DIR=${POSTERN_TLS_DIR-/etc/postern/tls}
POSTERN_GROUP=${POSTERN_GROUP:-postern}
POSTERN_LINEAGES=${POSTERN_LINEAGES:-}
POSTERN_CONFIG=${POSTERN_CONFIG:-/etc/postern/postern.yaml}
POSTERN_UNIT=${POSTERN_UNIT:-postern}
POSTERN=${POSTERN:-/usr/sbin/postern}

say() {
    echo "postern deploy hook: $*" >&2
}

if [ -z "${RENEWED_LINEAGE:-}" ]; then
    say "RENEWED_LINEAGE is not set (run me from certbot, or set it)"
    exit 1
fi
name=$(basename "$RENEWED_LINEAGE")

if [ -n "$POSTERN_LINEAGES" ]; then
    case " $POSTERN_LINEAGES " in
    *" $name "*) ;;
    *)
        say "lineage $name is not in POSTERN_LINEAGES: nothing to do"
        exit 0
        ;;
    esac
fi

# Replaces $2 with a copy of $1 in one rename, so Postern never reads a
# half-written file.
install_file() {
    tmp="$2.tmp.$$"
    install -m 0640 -o root -g "$POSTERN_GROUP" "$1" "$tmp"
    mv -f "$tmp" "$2"
}

if [ -n "$POSTERN_TLS_DIR" ] && [ -d "$POSTERN_TLS_DIR" ]; then
    umask 077
    dir="$POSTERN_TLS_DIR/$name"
    install -d -m 0750 -o root -g "$POSTERN_GROUP" "$dir"
    install_file "$RENEWED_LINEAGE/privkey.pem" "$dir/privkey.pem"
    install_file "$RENEWED_LINEAGE/fullchain.pem" "$dir/fullchain.pem"
    say "installed $name in $dir"
fi

# Check before signalling, so a broken certificate or configuration is
# reported here rather than only in Postern's log.
if ! "$POSTERN" -t -c "$POSTERN_CONFIG"; then
    say "configuration check failed: Postern not reloaded"
    exit 1
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    if ! systemctl is-active --quiet "$POSTERN_UNIT"; then
        say "$POSTERN_UNIT is not running: nothing to reload"
        exit 0
    fi
    systemctl reload "$POSTERN_UNIT"
else
    # Without systemd: signal the instance whose pid is in the
    # configuration's process.pid_file (it must be set). `postern -s` fails
    # when there is none, or no instance runs.
    if ! "$POSTERN" -s reload -c "$POSTERN_CONFIG"; then
        say "no running Postern found, or it could not be signalled"
        exit 1
    fi
fi
say "reloaded Postern for $name"
