"""A ./quickstart instance (--detach, with the existing build tree) configured with
a relayhost (postconf -e, then postel reload) sends mail for a remote domain out
through it: the relayhost, an aiosmtpd server on 127.0.0.1, receives the message
with its body intact, and the instance's log says status=sent."""

import errno
import os
import pathlib
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import threading

import pytest

from instance import SOURCE_DIR, wait_for

QUICKSTART = os.path.join(SOURCE_DIR, "quickstart")
# The fixed ports quickstart's services listen on (127.0.0.1).
QUICKSTART_PORTS = (2525, 2587, 2465, 2110, 2995, 2143, 2993)


def quickstart(build_dir, *args, timeout=120):
    env = dict(os.environ, POSTEL_BUILD_DIR=str(build_dir))
    env.pop("POSTEL_CONFIG_DIR", None)
    return subprocess.run([QUICKSTART] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def port_busy(port):
    """True when something holds 127.0.0.1:port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


class Recorder:
    """aiosmtpd handler: records envelope sender, recipients and the raw data."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"mail_from": envelope.mail_from,
                                  "rcpt_tos": list(envelope.rcpt_tos),
                                  "data": bytes(envelope.original_content
                                                or envelope.content)})
        return "250 2.0.0 Ok: recorded"


@pytest.fixture
def relay():
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    handler = Recorder()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = controller_mod.Controller(handler, hostname="127.0.0.1", port=port,
                                           server_hostname="relay.example.net",
                                           decode_data=False)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


def test_quickstart_sends_through_relayhost(tmp_path, build_dir, relay):
    for rel in ("tools/postconf", "tools/postel", "master/master", "smtpd/smtpd",
                "qmgr/qmgr", "smtp/smtp"):
        if not os.access(os.path.join(str(build_dir), rel), os.X_OK):
            pytest.skip("%s is not built" % rel)
    busy = [p for p in QUICKSTART_PORTS if port_busy(p)]
    if busy:
        pytest.skip("quickstart's fixed ports are in use on 127.0.0.1: %s"
                    % ", ".join(map(str, busy)))
    # Not under pytest's private basetemp: as root the daemons run as the mail owner.
    top = tempfile.mkdtemp(prefix="postel-qsrelay.", dir="/tmp")
    os.chmod(top, 0o755)
    run = pathlib.Path(top) / "run"
    etc = str(run / "etc")
    try:
        r = quickstart(build_dir, "--detach", run)
        assert r.returncode == 0, r.stdout + r.stderr
        r = subprocess.run([os.path.join(str(build_dir), "tools", "postconf"), "-c", etc, "-e",
                            "relayhost = [127.0.0.1]:%d" % relay.port],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([os.path.join(str(build_dir), "tools", "postconf"), "-c", etc, "-h",
                            "relayhost"], capture_output=True, text=True, timeout=30)
        assert r.stdout.strip() == "[127.0.0.1]:%d" % relay.port, r.stdout + r.stderr
        r = subprocess.run([os.path.join(str(build_dir), "tools", "postel"), "-c", etc,
                            "reload"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr

        maillog = run / "log" / "maillog"

        def log():
            with open(maillog, errors="replace") as f:
                return f.read()

        raw = (b"From: <tester@localhost>\r\nTo: <someone@example.net>\r\n"
               b"Subject: through the relayhost\r\nMessage-ID: <relay-1@quickstart.test>\r\n"
               b"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n"
               b"First line.\r\n.A dotted line.\r\n\r\nLast line.\r\n")
        with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as s:
            s.ehlo("client.test")
            assert s.sendmail("tester@localhost", ["someone@example.net"], raw) == {}

        wait_for(lambda: "the message at the relayhost\n%s" % log()[-3000:],
                 lambda: relay.messages, timeout=30)
        (m,) = relay.messages
        assert m["mail_from"] == "tester@localhost"
        assert m["rcpt_tos"] == ["someone@example.net"]
        body = m["data"].replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
        assert body == b"First line.\n.A dotted line.\n\nLast line.\n"
        assert b"Message-ID: <relay-1@quickstart.test>" in m["data"]
        sent = re.compile(r"to=<someone@example\.net>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, "
                          r".*status=sent \(250 2\.0\.0 Ok: recorded\)" % relay.port)
        wait_for(lambda: "status=sent in the log\n%s" % log()[-3000:],
                 lambda: sent.search(log()), timeout=15)
    finally:
        r = quickstart(build_dir, "--stop", run)
        shutil.rmtree(top, ignore_errors=True)
        assert r.returncode == 0, r.stdout + r.stderr
