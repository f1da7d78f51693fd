#!/bin/sh
# Makes the throw-away PKI the TLS tests need, with the openssl CLI, from
# the committed .cnf files beside this script, into the directory given as
# $1 (the build tree). Nothing it writes is ever committed.
#
#   ca.crt ca.key            root CA (ECDSA P-256) the tests trust
#   inter.crt inter.key      intermediate CA under the root
#   rogue-ca.crt             a root no test trusts
#   server-rsa.*             RSA 2048, mx1.example.test *.rsa.example.test
#                            (the default certificate: first in the list)
#   server-ec.*              ECDSA, mx2.example.test *.ec.example.test
#   server-rsa-mx2.*         RSA 2048, mx2.example.test (both key types)
#   upstream.*               ECDSA, upstream.example.test + IP 127.0.0.1,
#                            signed by the intermediate
#   upstream-chain.pem       upstream.crt followed by inter.crt
#   rogue.*                  upstream.example.test signed by the rogue CA
#   client.*                 ECDSA client certificate (clientAuth)
#   expired.*                valid 2020-01-01 .. 2021-01-01
#   notyet.*                 valid 2099-01-01 .. 2100-01-01
#   mismatch.key             a key that belongs to no certificate
#   *.pin                    base64 SHA-256 of a key's SubjectPublicKeyInfo
#                            (upstream.pin, inter.pin, server-ec.pin)
#   generated.stamp          written last: the set is complete
#
# Usage: gen-certs.sh OUTDIR
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
LOG="$OUT/gen-certs.log"
export CERTS_OUT="$OUT"
export CA_NAME=ca CA_CN=unused LEAF_CN=unused

: >"$LOG"
# Runs a command, keeping its chatter in the log; prints the log on failure.
run() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "gen-certs.sh: failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

key_ec() {
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$OUT/$1.key"
}

key_rsa() {
    run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$OUT/$1.key"
}

# root NAME CN: a self-signed CA with an empty database for `openssl ca`.
root() {
    key_ec "$1"
    CA_CN=$2 run openssl req -x509 -new -config "$SRC/ca.cnf" \
        -key "$OUT/$1.key" -extensions v3_root -days 3650 -sha256 \
        -out "$OUT/$1.crt"
    : >"$OUT/$1.index"
    run sh -c "openssl rand -hex 16 >'$OUT/$1.serial'"
}

# sign CA NAME CN CNF SECTION [openssl ca options...]: request + signature.
sign() {
    ca=$1 name=$2 cn=$3 cnf=$4 section=$5
    shift 5
    LEAF_CN=$cn CA_CN=$cn run openssl req -new -config "$SRC/$cnf" \
        -key "$OUT/$name.key" -out "$OUT/$name.csr"
    LEAF_CN=$cn CA_NAME=$ca run openssl ca -batch -notext \
        -config "$SRC/ca.cnf" -extfile "$SRC/$cnf" -extensions "$section" \
        -in "$OUT/$name.csr" -out "$OUT/$name.crt" "$@"
    rm -f "$OUT/$name.csr"
}

pin() {
    run sh -c "openssl pkey -in '$OUT/$1.key' -pubout -outform DER |
        openssl dgst -sha256 -binary | openssl base64 -A >'$OUT/$1.pin'"
}

rm -rf "$OUT/newcerts" "$OUT/generated.stamp"
rm -f "$OUT"/*.index* "$OUT"/*.serial*
mkdir -p "$OUT/newcerts"

root ca "Postern Test Root CA"
root rogue-ca "Postern Rogue CA"

key_ec inter
CA_CN="Postern Test Intermediate CA" run openssl req -new \
    -config "$SRC/ca.cnf" -key "$OUT/inter.key" -out "$OUT/inter.csr"
CA_NAME=ca CA_CN=x run openssl ca -batch -notext -config "$SRC/ca.cnf" \
    -extensions v3_inter -in "$OUT/inter.csr" -out "$OUT/inter.crt"
rm -f "$OUT/inter.csr"
: >"$OUT/inter.index"
run sh -c "openssl rand -hex 16 >'$OUT/inter.serial'"

key_rsa server-rsa
sign ca server-rsa mx1.example.test server.cnf server_rsa
key_ec server-ec
sign ca server-ec mx2.example.test server.cnf server_ec
key_rsa server-rsa-mx2
sign ca server-rsa-mx2 mx2.example.test server.cnf server_rsa_mx2

key_ec upstream
sign inter upstream upstream.example.test upstream.cnf upstream
cat "$OUT/upstream.crt" "$OUT/inter.crt" >"$OUT/upstream-chain.pem"

key_ec rogue
sign rogue-ca rogue upstream.example.test server.cnf server_rogue

key_ec client
sign ca client postern-client.example.test client.cnf client

key_ec expired
sign ca expired expired.example.test server.cnf server_dated \
    -startdate 20200101000000Z -enddate 20210101000000Z
key_ec notyet
sign ca notyet notyet.example.test server.cnf server_dated \
    -startdate 20990101000000Z -enddate 21000101000000Z

key_ec mismatch

pin upstream
pin inter
pin server-ec

chmod 600 "$OUT"/*.key
date -u +%Y-%m-%dT%H:%M:%SZ >"$OUT/generated.stamp"
