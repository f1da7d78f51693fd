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

# Exim 4, the upstream of tests/blackbox/test_39_exim.py. Debian's exim4
# packages conflict with postfix (both provide mail-transport-agent), so
# exim4-daemon-light is only downloaded and unpacked into a private tree
# (its exim4 binary is all the suite runs), never installed; the libraries
# it needs are ordinary packages and are installed. The binary is built to
# run as the system user Debian-exim, made here as exim4-base would make
# it. Without all this the suite skips and says why, so a failure here
# warns and does not stop the build.
EXIM_CACHE=${POSTERN_TEST_CACHE:-/var/cache/postern-test}/exim4
EXIM_BIN=$EXIM_CACHE/root/usr/sbin/exim4

exim_ready() {
    [ -x "$EXIM_BIN" ] && getent passwd Debian-exim >/dev/null &&
        ! ldd "$EXIM_BIN" 2>&1 | grep -q 'not found'
}

exim_deb() {  # the downloaded .deb, or "" (one is ever downloaded)
    deb=""
    for f in "$EXIM_CACHE"/debs/exim4-daemon-light_*.deb; do
        [ -e "$f" ] && deb=$f
    done
}

exim_fetch() {
    mkdir -p "$EXIM_CACHE/debs" || return 1
    exim_deb
    if [ -z "$deb" ]; then
        # apt-get download writes to the current directory
        (cd "$EXIM_CACHE/debs" &&
            { apt-get -q -o APT::Sandbox::User=root download \
                exim4-daemon-light ||
              { apt-get update -qq &&
                apt-get -q -o APT::Sandbox::User=root download \
                    exim4-daemon-light; }; }) || return 1
        exim_deb
        [ -n "$deb" ] || return 1
    fi
    # its shared libraries: the lib* packages it depends on
    libs=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
        sed -e 's/^ *//' -e 's/[ (|:].*//' | grep '^lib') || return 1
    need=""
    for p in $libs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || need="$need $p"
    done
    if [ -n "$need" ]; then
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $need || return 1
    fi
    rm -rf "$EXIM_CACHE/root.new" &&
        dpkg-deb -x "$deb" "$EXIM_CACHE/root.new" || return 1
    # a setuid-root copy outside dpkg's care would be a hole: the suite
    # runs it as Debian-exim, unprivileged
    chmod u-s "$EXIM_CACHE/root.new/usr/sbin/exim4" &&
        rm -rf "$EXIM_CACHE/root" &&
        mv "$EXIM_CACHE/root.new" "$EXIM_CACHE/root" || return 1
    if getent passwd Debian-exim >/dev/null; then
        :
    elif command -v adduser >/dev/null 2>&1; then
        adduser --system --group --quiet --home /var/spool/exim4 \
            --no-create-home --disabled-login --force-badname Debian-exim ||
            return 1
    else
        useradd --system --user-group --home-dir /var/spool/exim4 \
            --no-create-home --shell /usr/sbin/nologin Debian-exim ||
            return 1
    fi
    exim_ready
}

if ! exim_ready; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: no private Exim in $EXIM_CACHE (run as root to" \
            "fetch it); test_39_exim will skip" >&2
    elif ! exim_fetch; then
        echo "deps.sh: could not fetch Exim into $EXIM_CACHE;" \
            "test_39_exim will skip" >&2
    fi
fi

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
