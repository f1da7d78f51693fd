#!/usr/bin/python3
"""A scripted, recording SMTP upstream for Postern's black-box tests.

Raw asyncio (no SMTP library), so that it can misbehave on purpose. It
records every session to a directory the test reads, and takes its
behaviour as data: a script of directives, one per line (curl's
<servercmd> idea). The script file is read again at every new connection,
so a test may change the behaviour between sessions by rewriting it.

Usage:
    upstream.py --dir DIR [--script FILE] [--host 127.0.0.1] [--port 0]

It writes DIR/port once it listens. For each session N (1, 2, ...) it
keeps DIR/session-N.json (rewritten atomically after every event) and
DIR/session-N.raw (every byte the peer sent, as received). For message K
of session N it writes DIR/msg-N-K.eml (the content exactly as received,
after dot-unstuffing, without the terminating ".\\r\\n") and
DIR/msg-N-K.raw (the DATA bytes as sent on the wire, terminator included).

Directives ('#' starts a comment line; STAGE is one of GREETING EHLO HELO
MAIL RCPT DATA EOM RSET NOOP VRFY QUIT UNKNOWN CHUNK; reply texts take the
escapes \\r \\n \\t \\\\ \\xHH, and a reply with no CRLF gets one; CHUNK is
a BDAT chunk without LAST: once one is refused, the transaction has
failed, and later chunks get 554 5.5.1 until RSET or MAIL):

    HOSTNAME name                 name in the greeting and EHLO reply
    EHLO_KEYWORDS kw, kw arg, ... what EHLO offers (comma-separated; empty
                                  for none). Default: a legacy list
                                  "SIZE 52428800, ETRN" (no PIPELINING,
                                  CHUNKING, 8BITMIME, ENHANCEDSTATUSCODES)
    REPLY STAGE text              reply to STAGE with text (e.g.
                                  "REPLY EOM 250 2.0.0 Ok: queued as X1",
                                  "REPLY MAIL hello" for a malformed one);
                                  "{qid}" in an EOM reply is the queue id
    REPLY RCPT <addr> text        reply to RCPT for that address only
    MULTILINE_MIXED [STAGE]       reply "250-...\\r\\n550 ..." (default MAIL)
    REJECT_EHLO                   EHLO gets 500 (the client should fall
                                  back to HELO)
    CLOSE STAGE                   close the connection, no reply, when
                                  STAGE's command (or end of data) arrives
    CLOSE_DURING_DATA [after] N [bytes]
                                  close once N bytes of DATA content
                                  arrived (N=0: right after the 354)
    STALL [STAGE]                 never reply to STAGE (default EOM); the
                                  connection stays open
    DELAY STAGE seconds           wait before replying to STAGE
    LAX_DATA                      answer DATA with 354 even with no MAIL or
                                  no RCPT accepted (against RFC 2920 3.1)
    LENIENT_EOD                   end DATA at any <CR|LF|CRLF>.<CR|LF|CRLF>
                                  like a server vulnerable to SMTP
                                  smuggling (strict default: only
                                  CRLF.CRLF)
    RECORD_BODY off               do not write message files (counts only)
    PROXY_PROTOCOL                read a PROXY v1/v2 header before the
                                  greeting; recorded as "proxy" (v1: the
                                  line; v2: hex) in the session file

BDAT (RFC 3030) is understood whenever it arrives; offer CHUNKING with
EHLO_KEYWORDS to make a modern upstream. The message file of a BDAT
transaction holds the chunks' bytes concatenated.
"""

import argparse
import asyncio
import json
import os
import re
import sys
import time

STAGES = ("GREETING", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "EOM", "RSET",
          "NOOP", "VRFY", "QUIT", "UNKNOWN", "CHUNK")

DEFAULT_REPLIES = {
    "GREETING": "220 {host} ESMTP legacy test upstream",
    "HELO": "250 {host}",
    "MAIL": "250 Ok",
    "RCPT": "250 Ok",
    "DATA": "354 End data with <CR><LF>.<CR><LF>",
    "EOM": "250 Ok: queued as {qid}",
    "RSET": "250 Ok",
    "NOOP": "250 Ok",
    "VRFY": "252 Cannot VRFY user",
    "QUIT": "221 Bye",
    "UNKNOWN": "502 Error: command not recognized",
}

MAX_LINE = 1024 * 1024


def unescape(text):
    """Turns the script escapes into bytes (latin-1 for the rest)."""
    out = bytearray()
    i = 0
    raw = text.encode("latin-1", "replace")
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"\\" and i + 1 < len(raw):
            n = raw[i + 1:i + 2]
            if n == b"r":
                out += b"\r"
                i += 2
                continue
            if n == b"n":
                out += b"\n"
                i += 2
                continue
            if n == b"t":
                out += b"\t"
                i += 2
                continue
            if n == b"\\":
                out += b"\\"
                i += 2
                continue
            if n == b"x" and i + 4 <= len(raw):
                try:
                    out.append(int(raw[i + 2:i + 4], 16))
                    i += 4
                    continue
                except ValueError:
                    pass
        out += c
        i += 1
    return bytes(out)


class Script:
    def __init__(self, path):
        self.hostname = "upstream.test"
        self.keywords = ["SIZE 52428800", "ETRN"]
        self.replies = {}          # stage -> bytes
        self.rcpt_replies = {}     # lower-case address -> bytes
        self.close = set()
        self.stall = set()
        self.delay = {}
        self.close_during_data = None
        self.lenient_eod = False
        self.lax_data = False
        self.record_body = True
        self.proxy_protocol = False
        if path and os.path.exists(path):
            with open(path, encoding="latin-1") as f:
                for line in f:
                    self._directive(line.rstrip("\r\n"))

    def _directive(self, line):
        s = line.strip()
        if not s or s.startswith("#"):
            return
        word, _, rest = s.partition(" ")
        word = word.upper()
        rest = rest.strip()
        if word == "HOSTNAME":
            self.hostname = rest
        elif word == "EHLO_KEYWORDS":
            self.keywords = [k.strip() for k in rest.split(",") if k.strip()]
        elif word == "REPLY":
            stage, _, text = rest.partition(" ")
            stage = stage.upper()
            if stage not in STAGES:
                raise SystemExit("upstream.py: bad stage in: " + line)
            text = text.lstrip(" ")
            if stage == "RCPT" and text.startswith("<"):
                addr, _, text2 = text.partition(">")
                self.rcpt_replies[addr[1:].lower()] = unescape(text2.strip())
            else:
                self.replies[stage] = unescape(text)
        elif word == "MULTILINE_MIXED":
            stage = (rest or "MAIL").upper()
            self.replies[stage] = (b"250-" + stage.encode() +
                                   b" first line ok\r\n550 " +
                                   stage.encode() + b" second line refused")
        elif word == "REJECT_EHLO":
            self.replies["EHLO"] = b"500 Syntax error, command unrecognized"
        elif word == "CLOSE":
            self.close.add(rest.upper())
        elif word == "CLOSE_DURING_DATA":
            m = re.search(r"\d+", rest)
            self.close_during_data = int(m.group(0)) if m else 0
        elif word == "STALL":
            self.stall.add((rest or "EOM").upper())
        elif word == "DELAY":
            stage, _, secs = rest.partition(" ")
            self.delay[stage.upper()] = float(secs)
        elif word == "LAX_DATA":
            self.lax_data = True
        elif word == "LENIENT_EOD":
            self.lenient_eod = True
        elif word == "PROXY_PROTOCOL":
            self.proxy_protocol = True
        elif word == "RECORD_BODY":
            self.record_body = rest.lower() not in ("off", "no", "0", "false")
        else:
            raise SystemExit("upstream.py: unknown directive: " + line)


LENIENT_EOD = re.compile(rb"(\r\n|\r|\n)\.(\r\n|\r|\n)")


def find_eod(data, lenient, start=0):
    """Returns (content_len, consumed) once the end of data is in `data`:
    content is data[:content_len] (it keeps the line break before the dot),
    consumed counts the terminator too. None while it is not there yet.
    `start` is how much was already searched (no terminator before it), so
    big messages are not searched again from the beginning."""
    if not lenient:
        if data[:3] == b".\r\n":  # the data starts at a line start
            return 0, 3
        i = data.find(b"\r\n.\r\n", max(0, start - 4))
        if i < 0:
            return None
        return i + 2, i + 5
    d = b"\r\n" + bytes(data)
    m = LENIENT_EOD.search(d)
    if not m:
        return None
    if m.group(2) == b"\r" and m.end() == len(d):
        return None  # "\r" at the very end may yet become "\r\n"
    return m.end(1) - 2, m.end() - 2


def unstuff(content):
    """Dot-unstuffing on CRLF-delimited lines (RFC 5321 4.5.2)."""
    out = bytearray()
    pos = 0
    n = len(content)
    while pos < n:
        j = content.find(b"\r\n", pos)
        end = n if j < 0 else j + 2
        line = content[pos:end]
        if line.startswith(b"."):
            line = line[1:]
        out += line
        pos = end
    return bytes(out)


class Recorder:
    def __init__(self, root):
        self.root = root
        self.next_session = 0

    def new_id(self):
        self.next_session += 1
        return self.next_session

    def path(self, name):
        return os.path.join(self.root, name)

    def write_json(self, name, obj):
        tmp = self.path(name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, self.path(name))


class Session:
    def __init__(self, rec, script_path, reader, writer):
        self.rec = rec
        self.script = Script(script_path)
        self.reader = reader
        self.writer = writer
        self.sid = rec.new_id()
        self.buf = bytearray()
        self.eof = False
        peer = writer.get_extra_info("peername")
        self.info = {
            "id": self.sid,
            "peer": "%s:%s" % (peer[0], peer[1]) if peer else "?",
            "started": time.time(),
            "ended": None,
            "closed_by": None,
            "commands": [],
            "reads": [],
            "transcript": [],
            "messages": [],
            "data_started": 0,
            "data_aborted": 0,
            "data_bytes_aborted": 0,
        }
        self.raw = open(rec.path("session-%d.raw" % self.sid), "wb")
        self.greeted = False
        self.mail_from = None
        self.rcpts = []
        self.chunks = None
        self.chunk_failed = False
        self.nmsg = 0
        self.save()

    def save(self):
        self.rec.write_json("session-%d.json" % self.sid, self.info)

    def log(self, who, data):
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("latin-1")
        self.info["transcript"].append([who, data])

    async def fill(self):
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
            return False
        self.raw.write(data)
        self.raw.flush()
        self.buf += data
        # what arrived together: pipelined commands share a read (short
        # reads only, so big bodies do not bloat the record)
        if len(data) < 2048 and len(self.info["reads"]) < 1000:
            self.info["reads"].append(data.decode("latin-1"))
        return True

    async def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > MAX_LINE:
                line = bytes(self.buf)
                self.buf.clear()
                return line
            if not await self.fill():
                return None

    def render(self, stage, default, override=None, **kw):
        """The bytes of the reply to STAGE (script, override or default)."""
        text = override if override is not None else \
            self.script.replies.get(stage)
        if text is None:
            text = default.format(host=self.script.hostname, **kw).encode(
                "latin-1")
        else:
            text = text.replace(b"{qid}", kw.get("qid", "").encode())
        if not text.endswith(b"\n"):
            text += b"\r\n"
        return text

    async def send(self, stage, text):
        if stage in self.script.delay:
            await asyncio.sleep(self.script.delay[stage])
        self.log("S", text)
        if b"\n" not in self.buf:
            # Saved before the reply goes out, except inside a pipelined
            # batch (more complete commands already buffered): the last
            # reply of the batch saves them all, keeping this O(n).
            self.save()
        self.writer.write(text)
        await self.writer.drain()
        return text

    async def reply(self, stage, default, override=None, **kw):
        return await self.send(stage, self.render(stage, default, override,
                                                  **kw))

    @staticmethod
    def code_of(text):
        m = re.match(rb"(\d{3})", text)
        return int(m.group(1)) if m else None

    def hold(self, stage):
        """True when the script says to close or stall at this stage."""
        return stage in self.script.close or stage in self.script.stall

    async def do_hold(self, stage):
        if stage in self.script.close:
            self.log("X", "closing at " + stage)
            self.info["closed_by"] = "server"
            self.save()
            raise ConnectionAbortedError
        # STALL: keep reading (and recording) but never answer.
        self.log("X", "stalling at " + stage)
        self.save()
        while await self.fill():
            pass
        raise ConnectionAbortedError

    async def run(self):
        try:
            await self.session()
        except (ConnectionError, ConnectionAbortedError, asyncio.IncompleteReadError):
            pass
        finally:
            if self.info["closed_by"] is None:
                self.info["closed_by"] = "client" if self.eof else "server"
            self.info["ended"] = time.time()
            self.save()
            self.raw.close()
            try:
                self.writer.close()
            except Exception:
                pass

    async def read_proxy(self):
        """The PROXY header (v1 line or v2 block), or None on EOF."""
        # v1 may be shorter than v2's 16-byte header ("PROXY UNKNOWN\r\n")
        while len(self.buf) < 16 and not (self.buf.startswith(b"PROXY") and
                                          b"\n" in self.buf):
            if not await self.fill():
                return None
        if self.buf.startswith(b"\r\n\r\n\x00\r\nQUIT\n"):
            n = 16 + int.from_bytes(self.buf[14:16], "big")
            data = await self.read_exact(n)
            return data.hex() if data is not None else None
        line = await self.readline()
        return line.decode("latin-1") if line is not None else None

    async def session(self):
        if self.script.proxy_protocol:
            self.info["proxy"] = await self.read_proxy()
            if self.info["proxy"] is None:
                return
        if self.hold("GREETING"):
            await self.do_hold("GREETING")
        await self.reply("GREETING", DEFAULT_REPLIES["GREETING"])
        while True:
            line = await self.readline()
            if line is None:
                return
            cmdline = line.rstrip(b"\r\n")
            text = cmdline.decode("latin-1")
            self.info["commands"].append(text)
            self.log("C", line)
            verb = text.split(" ", 1)[0].upper()
            if verb == "EHLO":
                await self.on_ehlo()
            elif verb == "HELO":
                if self.hold("HELO"):
                    await self.do_hold("HELO")
                r = await self.reply("HELO", DEFAULT_REPLIES["HELO"])
                if self.code_of(r) == 250:
                    self.greeted = True
                    self.reset()
            elif verb == "MAIL":
                await self.on_mail(text)
            elif verb == "RCPT":
                await self.on_rcpt(text)
            elif verb == "DATA":
                await self.on_data()
            elif verb == "BDAT":
                await self.on_bdat(text)
            elif verb in ("RSET", "NOOP", "VRFY"):
                if self.hold(verb):
                    await self.do_hold(verb)
                if verb == "RSET":
                    self.reset()
                await self.reply(verb, DEFAULT_REPLIES[verb])
            elif verb == "QUIT":
                if self.hold("QUIT"):
                    await self.do_hold("QUIT")
                await self.reply("QUIT", DEFAULT_REPLIES["QUIT"])
                self.info["closed_by"] = "quit"
                return
            else:
                if self.hold("UNKNOWN"):
                    await self.do_hold("UNKNOWN")
                await self.reply("UNKNOWN", DEFAULT_REPLIES["UNKNOWN"])

    def reset(self):
        self.mail_from = None
        self.rcpts = []
        self.chunks = None
        self.chunk_failed = False

    async def read_exact(self, n):
        """n bytes after the command line (BDAT chunk data), or None."""
        while len(self.buf) < n:
            if not await self.fill():
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def on_bdat(self, text):
        """RFC 3030 BDAT: the chunk is read whatever the reply will be."""
        m = re.match(r"BDAT (\d+)( LAST)?$", text, re.I)
        if not m:
            await self.reply("-", "501 5.5.4 Syntax: BDAT size [LAST]")
            return
        size, last = int(m.group(1)), m.group(2) is not None
        data = await self.read_exact(size)
        if data is None:
            self.info["data_aborted"] += 1
            self.save()
            return
        self.log("D", "<BDAT %d bytes%s>" % (size, " LAST" if last else ""))
        self.info["bdat_chunks"] = self.info.get("bdat_chunks", 0) + 1
        if self.mail_from is None or not self.rcpts:
            await self.reply("-", "503 5.5.1 need MAIL and RCPT")
            return
        if self.chunk_failed:
            # RFC 3030 2: a refused chunk failed the transaction
            await self.reply("-", "554 5.5.1 Transaction failed")
            if last:
                self.reset()
            return
        if self.chunks is None:
            self.chunks = bytearray()
            self.info["data_started"] += 1
        self.chunks += data
        if not last:
            r = await self.reply("CHUNK", "250 2.0.0 %d octets received" %
                                 size)
            if self.code_of(r) != 250:
                self.chunk_failed = True
            return
        content = bytes(self.chunks)
        self.nmsg += 1
        qid = "QID%dX%d" % (self.sid, self.nmsg)
        name = "msg-%d-%d" % (self.sid, self.nmsg)
        if self.script.record_body:
            with open(self.rec.path(name + ".eml"), "wb") as f:
                f.write(content)
        r = self.render("EOM", DEFAULT_REPLIES["EOM"], qid=qid)
        code = self.code_of(r)
        if code is None or code // 100 == 2:
            self.info["messages"].append({
                "mail_from": self.mail_from,
                "rcpts": list(self.rcpts),
                "file": name + ".eml" if self.script.record_body else None,
                "raw_file": None,
                "size": len(content),
                "qid": qid,
                "eom_reply": r.decode("latin-1"),
                "bdat": True,
            })
        self.save()
        await self.send("EOM", r)
        self.reset()

    async def on_ehlo(self):
        if self.hold("EHLO"):
            await self.do_hold("EHLO")
        lines = [self.script.hostname] + self.script.keywords
        body = "".join("250-%s\r\n" % k for k in lines[:-1])
        body += "250 %s\r\n" % lines[-1]
        r = await self.reply("EHLO", body)
        if self.code_of(r) == 250:
            self.greeted = True
            self.reset()

    @staticmethod
    def path_of(text):
        m = re.search(r":\s*<([^>]*)>", text)
        return m.group(1) if m else None

    async def on_mail(self, text):
        if self.hold("MAIL"):
            await self.do_hold("MAIL")
        if not self.greeted:
            await self.reply("-", "503 Error: send HELO/EHLO first")
            return
        if self.mail_from is not None:
            await self.reply("-", "503 Error: nested MAIL command")
            return
        r = await self.reply("MAIL", DEFAULT_REPLIES["MAIL"])
        code = self.code_of(r)
        # A malformed reply counts as acceptance here, so that a proxy
        # that wrongly goes on would get its message delivered (and the
        # test would see it).
        if code is None or code // 100 == 2:
            self.mail_from = self.path_of(text)
            if self.mail_from is None:
                self.mail_from = ""
            self.rcpts = []

    async def on_rcpt(self, text):
        if self.hold("RCPT"):
            await self.do_hold("RCPT")
        if self.mail_from is None:
            await self.reply("-", "503 Error: need MAIL command")
            return
        addr = self.path_of(text)
        special = self.script.rcpt_replies.get((addr or "").lower())
        r = await self.reply("RCPT", DEFAULT_REPLIES["RCPT"], override=special)
        code = self.code_of(r)
        if code is None or code // 100 == 2:
            self.rcpts.append(addr)

    async def on_data(self):
        if self.hold("DATA"):
            await self.do_hold("DATA")
        if self.mail_from is None and not self.script.lax_data:
            await self.reply("-", "503 Error: need MAIL command")
            return
        if not self.rcpts and not self.script.lax_data:
            await self.reply("-", "554 Error: no valid recipients")
            return
        r = await self.reply("DATA", DEFAULT_REPLIES["DATA"])
        if self.code_of(r) != 354:
            return
        self.info["data_started"] += 1
        self.save()
        data = self.buf
        self.buf = bytearray()
        cdd = self.script.close_during_data
        searched = 0
        while True:
            if cdd is not None and len(data) >= cdd:
                self.info["data_aborted"] += 1
                self.info["data_bytes_aborted"] = len(data)
                self.log("X", "closing during DATA after %d bytes" % len(data))
                self.info["closed_by"] = "server"
                self.save()
                raise ConnectionAbortedError
            found = find_eod(data, self.script.lenient_eod, searched)
            if found:
                break
            searched = len(data)
            chunk = await self.reader.read(65536)
            if not chunk:
                self.eof = True
                self.info["data_aborted"] += 1
                self.info["data_bytes_aborted"] = len(data)
                self.save()
                return
            self.raw.write(chunk)
            self.raw.flush()
            data += chunk
        content_len, consumed = found
        wire = bytes(data[:consumed])
        content = unstuff(bytes(data[:content_len]))
        self.buf = bytearray(data[consumed:]) + self.buf
        self.log("D", "<%d bytes of data>" % consumed)
        if self.hold("EOM"):
            self.info["data_aborted"] += 1
            self.info["data_bytes_aborted"] = consumed
            await self.do_hold("EOM")
        self.nmsg += 1
        qid = "QID%dX%d" % (self.sid, self.nmsg)
        name = "msg-%d-%d" % (self.sid, self.nmsg)
        if self.script.record_body:
            with open(self.rec.path(name + ".eml"), "wb") as f:
                f.write(content)
            with open(self.rec.path(name + ".raw"), "wb") as f:
                f.write(wire)
        r = self.render("EOM", DEFAULT_REPLIES["EOM"], qid=qid)
        code = self.code_of(r)
        # Recorded before the reply goes out, so that a test that got its
        # reply through postern finds the record. Malformed replies count
        # as acceptance (see on_mail).
        if code is None or code // 100 == 2:
            self.info["messages"].append({
                "mail_from": self.mail_from,
                "rcpts": list(self.rcpts),
                "file": name + ".eml" if self.script.record_body else None,
                "raw_file": name + ".raw" if self.script.record_body else None,
                "size": len(content),
                "qid": qid,
                "eom_reply": r.decode("latin-1"),
            })
        else:
            self.info["data_refused"] = self.info.get("data_refused", 0) + 1
        self.save()
        await self.send("EOM", r)
        self.reset()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--script")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rec = Recorder(args.dir)
    if args.script:
        Script(args.script)  # fail early on a bad script

    async def handle(reader, writer):
        sess = Session(rec, args.script, reader, writer)
        await sess.run()

    server = await asyncio.start_server(handle, args.host, args.port,
                                        limit=MAX_LINE, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, os.path.join(args.dir, "port"))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
