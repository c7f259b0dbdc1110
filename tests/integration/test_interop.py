"""Interoperability with Postfix: mail both ways between a Postel instance
(postel.test) and Debian's Postfix (remote.test) over the test internet, each
found through its MX record. A plain, an 8-bit (8BITMIME) and an SMTPUTF8
message go each way; each arrives with its header and body byte-identical once
the trace headers of the final delivery are taken off."""

import os
import smtplib

import pytest

# testnet_fixture is the "testnet" fixture: importing it is what makes it available here.
from testnet import strip_trace_headers, testnet_fixture  # noqa: F401

PF_IP = "192.0.2.40"
PEL_IP = "192.0.2.50"
# A Date header, so that neither side adds one (both do for their own clients).
# The envelope sender of the SMTPUTF8 message: a UTF-8 local part, which needs SMTPUTF8
# on every hop.
UTF8_SENDER = "j\u00f6rg@%s"
DATE = "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n"


def messages(sender, rcpt):
    """(name, raw bytes with CRLF, SMTPUTF8 wanted) for the three kinds of message."""
    def head(name, extra=""):
        return ("From: %s<%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@interop.test>\r\n"
                % (extra, sender, rcpt, name if not extra else "Gr\u00fc\u00dfe aus K\u00f6ln",
                   name)) + DATE
    mime = ("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    plain = (head("plain") + "\r\nA plain message.\r\n.A dotted line.\r\n\r\nLast line.\r\n"
             ).encode()
    eightbit = (head("8bit") + mime).encode() + \
        b"Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e.\r\n\xe2\x82\xac 100, \xc3\x9f.\r\n"
    utf8 = (head("utf8", extra="J\u00f6rg ") + mime
            + "\u65e5\u672c\u8a9e\u306e\u672c\u6587.\r\nZ\u00fcrich.\r\n").encode()
    return [("plain", plain, False), ("8bit", eightbit, False), ("utf8", utf8, True)]


def as_stored(raw):
    """raw as a Maildir file holds it: LF line ends."""
    return raw.replace(b"\r\n", b"\n")


def smtp_send(ip, sender, rcpt, raw, smtputf8):
    """Send raw to ip:25 with BODY=8BITMIME, and SMTPUTF8 when asked."""
    opts = ["BODY=8BITMIME"] + (["SMTPUTF8"] if smtputf8 else [])
    with smtplib.SMTP(ip, 25, timeout=30) as s:
        s.ehlo("client.test")
        assert s.has_extn("8bitmime")
        if smtputf8:
            assert s.has_extn("smtputf8")
        refused = s.sendmail(sender, [rcpt], raw, mail_options=opts)
    assert refused == {}


@pytest.fixture
def pair(testnet, build_dir):
    net = testnet
    net.add_host("mx.remote.test", v4=PF_IP)
    net.add_host("mail.postel.test", v4=PEL_IP)
    net.zone("remote.test").mx(10, "mx.remote.test")
    net.zone("postel.test").mx(10, "mail.postel.test")
    net.start_dns()
    pel = net.postel(build_dir, PEL_IP, domain="postel.test")  # skips when not built
    pf = net.postfix_peer(PF_IP, domain="remote.test", hostname="mx.remote.test",
                          users=["pat"])
    return net, pel, pf


def test_postel_to_postfix(pair, build_dir):
    """Postel relays to Postfix by MX: the three messages arrive byte-identical."""
    if not os.access(os.path.join(str(build_dir), "smtp/smtp"), os.X_OK):
        pytest.skip("smtp/smtp is not built")
    net, pel, pf = pair
    rcpt = "pat@remote.test"
    sent = messages("alice@postel.test", rcpt)
    for i, (name, raw, utf8) in enumerate(sent):
        smtp_send(PEL_IP, UTF8_SENDER % "postel.test" if utf8 else "alice@postel.test", rcpt,
                  raw, utf8)
        pf.wait_messages(rcpt, count=i + 1, timeout=30)
    got = {m.header("Message-ID"): m for m in pf.messages(rcpt)}
    for name, raw, utf8 in sent:
        m = got["<%s@interop.test>" % name]
        assert m.header("Return-Path") == ("<%s>" % (UTF8_SENDER % "postel.test") if utf8
                                           else "<alice@postel.test>")
        original = strip_trace_headers(m.raw)
        # Postel's own Received header sits on top of what was sent; Postfix's is stripped.
        head, rest = original.split(b"\n", 1)
        assert head.startswith(b"Received: from "), original[:300]
        while rest[:1] in (b" ", b"\t"):
            rest = rest.split(b"\n", 1)[1]
        assert rest == as_stored(raw), name
    log = pel.inst.log_text()
    assert log.count("relay=mx.remote.test[192.0.2.40]:25") >= 3
    assert log.count("status=sent") >= 3


def test_postfix_to_postel(pair):
    """Postfix relays to Postel by MX: the three messages arrive byte-identical."""
    net, pel, pf = pair
    rcpt = "alice@postel.test"
    sent = messages("bob@remote.test", rcpt)
    for i, (name, raw, utf8) in enumerate(sent):
        smtp_send(PF_IP, UTF8_SENDER % "remote.test" if utf8 else "bob@remote.test", rcpt,
                  raw, utf8)
        pel.wait_messages("alice", count=i + 1, timeout=30)
    got = {m.header("Message-ID"): m for m in pel.messages("alice")}
    for name, raw, utf8 in sent:
        m = got["<%s@interop.test>" % name]
        assert m.header("Return-Path") == ("<%s>" % (UTF8_SENDER % "remote.test") if utf8
                                           else "<bob@remote.test>")
        original = strip_trace_headers(m.raw)
        head, rest = original.split(b"\n", 1)
        assert head.startswith(b"Received: from "), original[:300]
        while rest[:1] in (b" ", b"\t"):
            rest = rest.split(b"\n", 1)[1]
        assert rest == as_stored(raw), name
    log = pf.log_text()
    assert log.count("relay=mail.postel.test[192.0.2.50]:25") >= 3
