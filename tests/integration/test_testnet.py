"""The test internet (testnet.py) itself: DNS through every resolver path, the peers.

Each test builds its own TestNet (root only; skipped otherwise): an interface
with documentation addresses in this test file's network namespace, nsd
serving the test zones, /etc/resolv.conf bind-mounted over in the private
mount namespace. The checks are the ones the mail system relies on:
getaddrinfo, glibc's res_query and dig see the same records; each peer
receives, records or counts what a real client sent it.
"""

import os
import smtplib
import socket
import subprocess
import time

import pytest

# testnet_fixture is the "testnet" fixture: importing it is what makes it available here.
from testnet import (TestNet, TestNetUnavailable, dns_query, outside_pid, res_query,  # noqa
                     strip_trace_headers, testnet_fixture)

DIG = "/usr/bin/dig"
GETENT = "/usr/bin/getent"

MESSAGE = (b"From: Sender <sender@client.test>\r\n"
           b"To: Alice <alice@remote.test>\r\n"
           b"Subject: test internet\r\n"
           b"Message-ID: <testnet-1@client.test>\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           b"\r\n"
           b"First line.\r\n"
           b".A line that starts with a dot.\r\n"
           b"\r\n"
           b"Last line, 8 bit: \xc3\xa9t\xc3\xa9.\r\n")


def dig(*args):
    if not os.access(DIG, os.X_OK):
        pytest.skip("dig is not installed (Debian package bind9-dnsutils)")
    r = subprocess.run([DIG, "+short", "+tries=1", "+time=2"] + list(args),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("\n")[:-1]


def answers(result, rtype):
    assert result is not None, "lookup failed"
    return [a[3] for a in result["answers"] if a[1] == rtype]


@pytest.fixture
def dns(testnet):
    """A test internet with the records the DNS tests look at."""
    net = testnet
    net.add_host("mx1.example.test", v4="192.0.2.10", v6="2001:db8::10")
    net.add_host("mx2.example.test", v4="192.0.2.11")
    (net.zone("example.test")
        .mx(20, "mx2.example.test").mx(10, "mx1.example.test")
        .txt("v=spf1 ip4:192.0.2.0/24 -all")
        .txt("k" * 300, name="sel._domainkey")
        .a("x", "192.0.2.20")
        .cname("www", "x.example.test"))
    net.zone("nullmx.test").mx(0, ".")
    net.ptr("203.0.113.5", "odd.example.test")
    net.start_dns()
    return net


# ------------------------------------------------------------------ the network

def test_private_namespace_and_addresses(testnet):
    """The test's own namespaces: PID 1 sees none of the addresses or the mounts."""
    net = testnet
    net.add_address("198.51.100.7")
    net.start_dns()
    outside = outside_pid("mnt")
    assert outside is not None and outside_pid("net") is not None
    with open("/etc/resolv.conf") as f:
        assert "nameserver 192.0.2.53\n" in f.read()
    with open("/proc/%d/root/etc/resolv.conf" % outside) as f:
        assert "192.0.2.53" not in f.read()
    with open("/proc/%d/net/if_inet6" % outside_pid("net")) as f:
        assert "20010db8" not in f.read()
    with pytest.raises(ValueError):
        net.add_address("10.0.0.1")           # only documentation prefixes
    with pytest.raises(ValueError):
        net.add_host("bad.example.test", v4="8.8.8.8")
    # An added address without a listener refuses at once ...
    with socket.socket() as s:
        s.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            s.connect(("198.51.100.7", 25))
    # ... and an address no host has is a black hole: the connection times out.
    for ip in ("198.51.100.99", "2001:db8::99"):
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
            s.settimeout(0.5)
            with pytest.raises(socket.timeout):
                s.connect((ip, 25))


# ------------------------------------------------------------------ DNS

def test_getaddrinfo_and_reverse(dns):
    """glibc's getaddrinfo and getnameinfo (through nsswitch, resolv.conf) see nsd's records."""
    v4 = {ai[4][0] for ai in socket.getaddrinfo("mx1.example.test", 25, socket.AF_INET,
                                                socket.SOCK_STREAM)}
    v6 = {ai[4][0] for ai in socket.getaddrinfo("mx1.example.test", 25, socket.AF_INET6,
                                                socket.SOCK_STREAM)}
    assert v4 == {"192.0.2.10"} and v6 == {"2001:db8::10"}
    assert {ai[4][0] for ai in socket.getaddrinfo("www.example.test", 25, socket.AF_INET)} \
        == {"192.0.2.20"}                                            # through the CNAME
    assert socket.gethostbyaddr("192.0.2.10")[0] == "mx1.example.test"
    assert socket.gethostbyaddr("2001:db8::10")[0] == "mx1.example.test"
    assert socket.gethostbyaddr("203.0.113.5")[0] == "odd.example.test"
    with pytest.raises(socket.gaierror) as e:
        socket.getaddrinfo("nothere.example.test", 25)
    assert e.value.errno == socket.EAI_NONAME
    with pytest.raises(socket.gaierror) as e:
        socket.getaddrinfo("mail.outside.example", 25)  # no zone: the root says NXDOMAIN
    assert e.value.errno == socket.EAI_NONAME
    if os.access(GETENT, os.X_OK):
        out = subprocess.run([GETENT, "ahosts", "mx1.example.test"], capture_output=True,
                             text=True, timeout=20).stdout
        assert "192.0.2.10" in out and "2001:db8::10" in out


def test_res_query_mx_txt_ptr_null_mx(dns):
    """glibc's res_query (what the daemons call) reading /etc/resolv.conf."""
    mx = sorted(answers(res_query("example.test", "MX"), "MX"),
                key=lambda r: int(r.split()[0]))
    assert mx == ["10 mx1.example.test.", "20 mx2.example.test."]
    assert answers(res_query("nullmx.test", "MX"), "MX") == ["0 ."]
    assert answers(res_query("example.test", "TXT"), "TXT") == ["v=spf1 ip4:192.0.2.0/24 -all"]
    assert answers(res_query("sel._domainkey.example.test", "TXT"), "TXT") == ["k" * 300]
    assert answers(res_query("mx1.example.test", "AAAA"), "AAAA") == ["2001:db8::10"]
    assert answers(res_query("10.2.0.192.in-addr.arpa", "PTR"), "PTR") == ["mx1.example.test."]
    assert answers(res_query("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                             ".ip6.arpa", "PTR"), "PTR") == ["mx1.example.test."]
    assert res_query("nothere.example.test", "A") is None
    # nsd answers authoritatively; asked directly, an unknown name is NXDOMAIN.
    r = dns_query("192.0.2.53", "nothere.example.test", "A")
    assert r["rcode"] == "NXDOMAIN" and r["aa"]
    r = dns_query("2001:db8::53", "x.example.test", "A")
    assert answers(r, "A") == ["192.0.2.20"]


def test_dig_sees_the_same(dns):
    """dig, an independent DNS client, through /etc/resolv.conf."""
    assert sorted(dig("example.test", "MX")) == ["10 mx1.example.test.", "20 mx2.example.test."]
    assert dig("nullmx.test", "MX") == ["0 ."]
    assert dig("-x", "192.0.2.11") == ["mx2.example.test."]
    assert dig("-x", "2001:db8::10") == ["mx1.example.test."]
    assert dig("example.test", "TXT") == ['"v=spf1 ip4:192.0.2.0/24 -all"']
    assert dig("sel._domainkey.example.test", "TXT") == ['"%s" "%s"' % ("k" * 255, "k" * 45)]


def test_adding_a_record_is_one_line(dns):
    """After start: one call adds a record, reload_dns() publishes it; new zones too."""
    net = dns
    net.zone("example.test").a("new", "192.0.2.77")
    net.zone("dnsbl.test").a("20.2.0.192", "127.0.0.2").txt("listed", name="20.2.0.192")
    net.zone("example.test").remove("x", "A")
    net.reload_dns()
    assert answers(res_query("new.example.test", "A"), "A") == ["192.0.2.77"]
    assert answers(res_query("20.2.0.192.dnsbl.test", "A"), "A") == ["127.0.0.2"]
    assert answers(res_query("20.2.0.192.dnsbl.test", "TXT"), "TXT") == ["listed"]
    assert res_query("x.example.test", "A") is None
    # A change within the same zone set goes by SIGHUP: nsd keeps running.
    pid = net.nsd.pid
    net.zone("example.test").txt("v=spf1 -all", name="new")
    net.reload_dns()
    assert net.nsd.pid == pid
    assert answers(res_query("new.example.test", "TXT"), "TXT") == ["v=spf1 -all"]
    # A bad record is refused before nsd sees it, naming the zone and the line.
    net.zone("example.test").rr("bad", "MX", "not-a-number mx1.example.test.")
    with pytest.raises(ValueError, match="example.test"):
        net.reload_dns()


def test_dns_down_is_a_temporary_failure(dns):
    """stop_dns(): lookups fail as temporary failures (EAI_AGAIN), never "no such name";
    at once, or after the resolver's timeout when the server is unreachable."""
    for unreachable in (False, True):
        dns.stop_dns(unreachable=unreachable)
        start = time.monotonic()
        with pytest.raises(socket.gaierror) as e:
            socket.getaddrinfo("mx1.example.test", 25, socket.AF_INET)
        took = time.monotonic() - start
        assert e.value.errno == socket.EAI_AGAIN
        assert res_query("example.test", "MX") is None
        assert (took >= 0.9) if unreachable else (took < 0.9), took
        dns.start_dns()
        assert answers(res_query("mx2.example.test", "A"), "A") == ["192.0.2.11"]


# ------------------------------------------------------------------ smtp-sink

def test_smtp_sink_counts_and_dumps(testnet):
    net = testnet
    ip = net.add_host("sink.example.test", v4="192.0.2.25")
    sink = net.smtp_sink(ip, 25, dump=True)
    assert sink.counts() == {"sessions": 0, "quit": 0, "messages": 0}
    for i in range(3):
        with smtplib.SMTP(ip, 25, timeout=10) as s:
            s.ehlo("client%d.test" % i)
            s.sendmail("a@client.test", ["b@sink.example.test", "c@sink.example.test"],
                       MESSAGE)
            s.sendmail("a@client.test", ["d@sink.example.test"], b"Subject: 2\r\n\r\nx\r\n")
    with socket.create_connection((ip, 25), timeout=10) as c:  # a session without mail
        c.recv(1000)
    counts = sink.wait_counts(sessions=4)
    assert counts == {"sessions": 4, "quit": 3, "messages": 6}
    msgs = sink.messages()
    assert len(msgs) == 6
    firsts = [m for m in msgs if len(m["rcpt_to"]) == 2]
    assert len(firsts) == 3
    for m in firsts:
        assert m["client"] == "192.0.2.25"
        assert m["mail_from"].startswith("<a@client.test>")
        assert [r.split()[0] for r in m["rcpt_to"]] == ["<b@sink.example.test>",
                                                        "<c@sink.example.test>"]
        assert m["data"] == MESSAGE.replace(b"\r\n", b"\n")
    assert sorted(m["helo"] for m in firsts) == ["client0.test", "client1.test",
                                                 "client2.test"]


def test_smtp_sink_options(testnet):
    """On IPv6; extra smtp-sink options pass through: -r RCPT answers 4xx."""
    sink = testnet.smtp_sink("2001:db8::26", 2525, options=["-r", "RCPT"])
    with smtplib.SMTP("2001:db8::26", 2525, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("a@client.test")
        code, _ = s.rcpt("b@example.test")
        assert code // 100 == 4
    assert sink.wait_counts(sessions=1)["messages"] == 0


# ------------------------------------------------------------------ aiosmtpd smarthost

def test_smarthost_starttls_auth_plain_and_login(testnet):
    net = testnet
    ip = net.add_host("relay.example.test", v4="192.0.2.30")
    net.start_dns()
    hub = net.aiosmtpd_smarthost(ip, 587, tls="starttls", auth={"user": "s3cret"},
                                 require_auth=True, hostname="relay.example.test")
    ctx = net.client_tls_context()  # verifies the certificate against the test CA
    with smtplib.SMTP("relay.example.test", 587, timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls") and not s.has_extn("auth")  # AUTH only after TLS
        assert s.mail("a@client.test")[0] == 530                   # AUTH required
        s.rset()
        s.starttls(context=ctx)
        s.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("user", "wrong")
        s.login("user", "s3cret")                                   # smtplib picks PLAIN
        s.sendmail("a@client.test", ["x@remote.test", "y@remote.test"], MESSAGE)
    with smtplib.SMTP(ip, 587, timeout=10) as s:
        s.starttls(context=ctx)
        s.ehlo("client2.test")
        s.user, s.password = "user", "s3cret"
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0] == 235
        s.sendmail("b@client.test", ["z@remote.test"], b"Subject: 2\r\n\r\n.two\r\n")
    msgs = hub.wait_messages(2)
    first, second = msgs
    assert first["mail_from"] == "a@client.test"
    assert first["rcpt_tos"] == ["x@remote.test", "y@remote.test"]
    assert first["data"] == MESSAGE
    assert first["helo"] == "client.test"
    assert first["auth"] == {"mechanism": "PLAIN", "login": "user", "password": "s3cret"}
    assert first["tls"]["version"] in ("TLSv1.2", "TLSv1.3") and first["tls"]["cipher"]
    assert second["auth"]["mechanism"] == "LOGIN"
    assert second["data"] == b"Subject: 2\r\n\r\n.two\r\n"
    attempts = [(a["mechanism"], a["password"], a["success"]) for a in hub.auth_attempts()]
    # smtplib's login() tries PLAIN, then LOGIN, until one succeeds.
    assert attempts == [("PLAIN", "wrong", False), ("LOGIN", "wrong", False),
                        ("PLAIN", "s3cret", True), ("LOGIN", "s3cret", True)]
    assert hub.connections() == 2


def test_smarthost_implicit_tls(testnet):
    net = testnet
    hub = net.aiosmtpd_smarthost("192.0.2.31", 465, tls="implicit", auth={"u": "p"})
    ctx = net.client_tls_context()
    ctx.check_hostname = False
    with smtplib.SMTP_SSL("192.0.2.31", 465, context=ctx, timeout=10) as s:
        s.ehlo("client.test")
        assert not s.has_extn("starttls")
        s.login("u", "p")
        s.sendmail("a@client.test", ["x@remote.test"], MESSAGE)
        assert s.sock.version() == hub.messages()[0]["tls"]["version"]
    (msg,) = hub.messages()
    assert msg["auth"]["login"] == "u" and msg["data"] == MESSAGE
    assert msg["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


def test_smarthost_plain_replies(testnet):
    """Without TLS or users: no AUTH offered; configured replies refuse."""
    hub = testnet.aiosmtpd_smarthost("2001:db8::32", 25, replies={
        "RCPT bad@remote.test": "550 5.1.1 No such user", "DATA": "451 4.3.0 Try later"})
    with smtplib.SMTP("2001:db8::32", 25, timeout=10) as s:
        s.ehlo("client.test")
        assert not s.has_extn("auth") and not s.has_extn("starttls")
        s.mail("a@client.test")
        assert s.rcpt("bad@remote.test")[0] == 550
        assert s.rcpt("good@remote.test")[0] == 250
        assert s.data(b"Subject: x\r\n\r\nx\r\n")[0] == 451
    assert hub.messages() == []
    assert hub.connections() == 1


# ------------------------------------------------------------------ Postfix

def test_postfix_peer_receives_into_maildir(testnet):
    net = testnet
    ip = net.add_host("mx.remote.test", v4="192.0.2.40", v6="2001:db8::40")
    net.zone("remote.test").mx(10, "mx.remote.test")
    net.start_dns()
    pf = net.postfix_peer(ip, v6="2001:db8::40", domain="remote.test", users=["alice"],
                          tls=True)
    with smtplib.SMTP(ip, 25, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("sender@client.test", ["alice@remote.test"], MESSAGE)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("sender@client.test", ["nobody@remote.test"], MESSAGE)
    # Over IPv6, with STARTTLS and a certificate the test CA vouches for.
    with smtplib.SMTP("mx.remote.test", 25, source_address=("2001:db8::40", 0),
                      timeout=10) as s:
        s.starttls(context=net.client_tls_context())
        s.sendmail("other@client.test", ["Alice@remote.test"], b"Subject: 2\r\n\r\nx\r\n")
    first, second = pf.wait_messages("alice@remote.test", count=2)
    assert first.original == MESSAGE.replace(b"\r\n", b"\n")        # byte for byte
    assert first.header("Return-Path") == "<sender@client.test>"
    assert first.header("Delivered-To") == "alice@remote.test"
    assert second.header("Return-Path") == "<other@client.test>"
    assert "2001:db8::40" in second.header("Received") and "TLS" in second.header("Received")
    assert strip_trace_headers(b"Return-Path: <a>\nReceived: x\n\ty\nReceived: z\n\nb") \
        == b"Received: z\n\nb"


def test_postfix_peer_sends_to_postel(testnet, build_dir):
    """Postfix looks up the MX of Postel's domain in the test DNS and delivers there;
    Postel (a second instance on its own address) puts it into alice's Maildir."""
    net = testnet
    pf_ip = net.add_host("mx.remote.test", v4="192.0.2.40")
    pel_ip = net.add_host("mail.postel.test", v4="192.0.2.50")
    net.zone("postel.test").mx(10, "mail.postel.test")
    net.start_dns()
    pel = net.postel(build_dir, pel_ip, domain="postel.test")  # skips when not built
    pf = net.postfix_peer(pf_ip, domain="remote.test")
    pf.send("bob@remote.test", ["alice@postel.test"], MESSAGE)
    pf.wait_log(r"to=<alice@postel\.test>, relay=mail\.postel\.test\[192\.0\.2\.50\]:25, "
                r".*status=sent")
    (msg,) = pel.wait_messages("alice")
    assert msg.header("Return-Path") == "<bob@remote.test>"
    body = msg.raw.split(b"\n\n", 1)[1]
    assert body == MESSAGE.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
    assert b"Subject: test internet\n" in msg.raw
    # Postel saw the connection come from the Postfix peer's address.
    assert "192.0.2.40" in pel.inst.log_text()


def test_unavailable_without_root(tmp_path, monkeypatch):
    """Without root TestNet says why (the fixture turns that into a skip)."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(TestNetUnavailable, match="needs root"):
        TestNet(tmp_path)
