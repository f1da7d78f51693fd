#!/bin/sh
# Install every Debian package that the build, the tests, the demo and the
# benchmark need. Non-interactive and idempotent: safe to run on every build.
set -eu

PKGS="
build-essential cmake pkg-config clang
libuv1-dev libmbedtls-dev libpcre2-dev libyaml-dev libcmocka-dev libcrypt-dev
postfix swaks python3 python3-aiosmtpd openssl haproxy procps
groff-base mandoc libnet-ssleay-perl libio-socket-ssl-perl testssl.sh
"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages:$missing (run as root to install)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix asks debconf questions; answer them before it is installed, so a
# fresh machine gets a local-only MTA that we never start (we use its
# smtp-sink and smtp-source tools only).
if command -v debconf-set-selections >/dev/null 2>&1; then
    echo "postfix postfix/main_mailer_type select No configuration" |
        debconf-set-selections
    echo "postfix postfix/mailname string postern.invalid" |
        debconf-set-selections
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
