#!/usr/bin/python3
"""A recording upstream built on aiosmtpd (Debian's python3-aiosmtpd): an
independent, real SMTP server implementation to check byte-identical
relaying against, beside the scripted peers/upstream.py.

Usage:
    aiosmtpd_upstream.py --dir DIR [--host 127.0.0.1] [--port 0]
                         [--cert FILE --key FILE [--require-tls]]
                         [--auth USER:PASSWORD] [--requiretls]

With --cert/--key it offers STARTTLS (and with --require-tls refuses
MAIL before it), for the upstream TLS modes. With --auth it offers AUTH
PLAIN LOGIN (over TLS only when --cert is given), requires it before
MAIL, and records the login in each message's JSON ("auth"). With
--requiretls it offers REQUIRETLS (RFC 8689) and takes the MAIL
parameter (recorded in mail_options), as a next hop that enforces it.

Writes DIR/port once it listens; for message N, DIR/msg-N.eml (the
content as aiosmtpd received it, dot-unstuffed, bytes) and DIR/msg-N.json
(envelope: mail_from, rcpts, mail_options, helo).
"""

import argparse
import asyncio
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult


class RequireTLSSMTP(SMTP):
    """aiosmtpd knows no REQUIRETLS: accept the MAIL parameter (it stays in
    envelope.mail_options) instead of answering 555."""

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None:
            result.pop("REQUIRETLS", None)
        return result


class Recorder:
    def __init__(self, root, requiretls=False):
        self.root = root
        self.n = 0
        self.requiretls = requiretls

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        if self.requiretls:
            responses.insert(len(responses) - 1, "250-REQUIRETLS")
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        base = os.path.join(self.root, "msg-%d" % self.n)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpts": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "helo": session.host_name,
            "tls": session.ssl is not None,
            "auth": session.auth_data.decode("utf-8", "replace")
            if isinstance(session.auth_data, bytes) else None,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.replace(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Ok: queued as AIO%d" % self.n


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--require-tls", action="store_true")
    ap.add_argument("--auth")
    ap.add_argument("--requiretls", action="store_true")
    args = ap.parse_args()
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    os.makedirs(args.dir, exist_ok=True)
    handler = Recorder(args.dir, args.requiretls)
    loop = asyncio.get_running_loop()
    auth = {}
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, data):
            ok = (data.login == user.encode() and
                  data.password == password.encode())
            return AuthResult(success=ok, handled=False,
                              auth_data=data.login if ok else None)

        auth = {"authenticator": authenticator, "auth_required": True,
                "auth_require_tls": tls is not None}
    server = await loop.create_server(
        lambda: (RequireTLSSMTP if args.requiretls else SMTP)(
                     handler, decode_data=False, enable_SMTPUTF8=False,
                     hostname="aiosmtpd.test", data_size_limit=64 << 20,
                     tls_context=tls, require_starttls=args.require_tls,
                     **auth),
        args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, os.path.join(args.dir, "port"))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
