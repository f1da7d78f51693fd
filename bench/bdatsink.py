#!/usr/bin/python3
"""A minimal SMTP sink with CHUNKING, for bench/bdat.sh (standard library).

  bdatsink.py [--pipelining] [--no-chunking] [-v] HOST PORT

smtp-sink (Postfix 3.7) knows no BDAT, so the benchmark of BDAT passed
through to a CHUNKING upstream needs another sink. This one accepts
everything and keeps nothing, like smtp-sink: EHLO/HELO, MAIL, RCPT, RSET,
NOOP, QUIT, DATA (up to <CRLF>.<CRLF>) and BDAT (RFC 3030: n octets after
the command line, LAST ends the message). Its EHLO reply offers CHUNKING,
and PIPELINING with --pipelining (commands are read in order either way);
--no-chunking drops CHUNKING, and BDAT then gets 502 like any unknown
command. -v prints every command line it reads on stderr (to see how a
proxy chunks a message).

It is one asyncio event loop in one process: slower than smtp-sink, which is
why bench/bdat.sh compares it only with itself (DATA against BDAT through
the same sink). Runs until SIGTERM/SIGINT.
"""

import asyncio
import re
import signal
import sys

BDAT_RE = re.compile(rb"BDAT +([0-9]{1,18})( +LAST)? *$", re.I)

CMD, DATA, BDAT, CLOSED = range(4)


class Sink(asyncio.Protocol):
    chunking = True
    pipelining = False
    verbose = False

    def connection_made(self, transport):
        self.t = transport
        self.buf = bytearray()
        self.state = CMD
        self.need = 0
        self.last = False
        self.octets = 0
        transport.write(b"220 bdatsink ESMTP\r\n")

    def data_received(self, data):
        if self.state == BDAT and not self.buf and len(data) <= self.need:
            # the common case in a large chunk: no copy at all
            self.need -= len(data)
            self.octets += len(data)
            if self.need == 0:
                self.t.write(self.bdat_done())
            return
        self.buf += data
        out = []
        while self.buf and self.state != CLOSED:
            if self.state == CMD:
                i = self.buf.find(b"\n")
                if i < 0:
                    if len(self.buf) > 4096:
                        out.append(b"500 5.5.2 Line too long\r\n")
                        self.buf.clear()
                    break
                line = bytes(self.buf[:i]).rstrip(b"\r")
                del self.buf[:i + 1]
                out.append(self.command(line))
            elif self.state == DATA:
                i = self.buf.find(b"\r\n.\r\n")
                if i < 0:
                    # keep what could be the start of the terminator
                    del self.buf[:max(0, len(self.buf) - 4)]
                    break
                del self.buf[:i + 5]
                self.state = CMD
                out.append(b"250 2.0.0 Ok: queued as DATA\r\n")
            else:  # BDAT
                n = min(self.need, len(self.buf))
                del self.buf[:n]
                self.need -= n
                self.octets += n
                if self.need > 0:
                    break
                out.append(self.bdat_done())
        if out:
            self.t.write(b"".join(out))
        if self.state == CLOSED:
            self.t.close()

    def bdat_done(self):
        self.state = CMD
        if self.last:
            n, self.octets = self.octets, 0
            return b"250 2.0.0 Ok: %d octets queued as BDAT\r\n" % n
        return b"250 2.0.0 Ok: chunk received\r\n"

    def command(self, line):
        if self.verbose:
            sys.stderr.write("%r\n" % line)
        verb = line[:4].upper()
        if verb == b"EHLO":
            return self.ehlo_reply
        if verb in (b"HELO", b"RSET", b"NOOP"):
            return b"250 2.0.0 Ok\r\n"
        if verb == b"MAIL":
            self.octets = 0
            return b"250 2.1.0 Ok\r\n"
        if verb == b"RCPT":
            return b"250 2.1.5 Ok\r\n"
        if verb == b"DATA":
            self.state = DATA
            # a "." right after 354 ends an empty message
            self.buf[0:0] = b"\r\n"
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"QUIT":
            self.state = CLOSED
            return b"221 2.0.0 Bye\r\n"
        if verb == b"BDAT" and self.chunking:
            m = BDAT_RE.match(line)
            if m is None:
                return b"501 5.5.4 Syntax: BDAT size [LAST]\r\n"
            self.need = int(m.group(1))
            self.last = m.group(2) is not None
            if self.need == 0:
                return self.bdat_done()
            self.state = BDAT
            return b""
        return b"502 5.5.2 Error: command not recognized\r\n"


async def serve(host, port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    server = await loop.create_server(Sink, host, port, backlog=4096,
                                      reuse_address=True)
    async with server:
        await stop


def main(argv):
    args = argv[1:]
    while args and args[0].startswith("-"):
        if args[0] == "--no-chunking":
            Sink.chunking = False
        elif args[0] == "--pipelining":
            Sink.pipelining = True
        elif args[0] == "-v":
            Sink.verbose = True
        else:
            break
        args = args[1:]
    if len(args) != 2:
        sys.stderr.write(__doc__)
        return 2
    words = [b"bdatsink"]
    if Sink.pipelining:
        words.append(b"PIPELINING")
    if Sink.chunking:
        words.append(b"CHUNKING")
    Sink.ehlo_reply = b"".join(b"250-" + w + b"\r\n" for w in words[:-1]) \
        + b"250 " + words[-1] + b"\r\n"
    asyncio.run(serve(args[0], int(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
