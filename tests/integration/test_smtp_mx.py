"""smtp(8) on the test internet (testnet.py): delivery by MX records, with real
DNS (nsd behind /etc/resolv.conf) and peers on documentation addresses.

The sending Postel runs on 192.0.2.50 (domain postel.test, local mailboxes for
alice, bob and postmaster); mail for other domains leaves through smtp(8) by
the recipients' MX records. Peers: Postfix's smtp-sink (counts and dumps what
it gets), aiosmtpd (answers as told), a real Postfix. Checked: which server got
the message, the status lines, and the bounce in the sender's Maildir.

Every test needs root (the test internet); without it they are skipped.
"""

import os
import re
import smtplib
import socket
import threading

import pytest

from instance import wait_for
from testnet import testnet_fixture  # noqa: F401  (the "testnet" fixture)

POSTEL_IP = "192.0.2.50"
QID = r"[0-9A-HJKMNP-TV-Z]{16}"

FAST = {
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
    "transport_retry_time": "1s",
    "smtp_connect_timeout": "2s",
    "smtp_tls_security_level": "may",
}


def need(build_dir):
    for rel in ("smtp/smtp", "qmgr/qmgr", "smtpd/smtpd", "local/local"):
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)


def sender_postel(net, build_dir, **config):
    """The sending Postel on 192.0.2.50 (DNS must be set up: it starts it)."""
    need(build_dir)
    settings = dict(FAST)
    settings.update({k: str(v) for k, v in config.items()})
    return net.postel(build_dir, POSTEL_IP, domain="postel.test", config=settings)


def submit(pel, rcpts, subject="test", body="hello\r\n", sender="alice@postel.test",
           raw=None):
    msg = raw or ("From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\n\r\n%s"
                  % (sender, ", ".join(rcpts), subject, body)).encode()
    with smtplib.SMTP(POSTEL_IP, 25, timeout=30) as c:
        c.sendmail(sender, rcpts, msg)
    return msg


def wait_status(pel, rcpt, status, timeout=30):
    """The status= log line of rcpt with that status (a match object)."""
    return pel.inst.wait_log(r"%s: to=<%s>, .*status=%s .*" % (QID, re.escape(rcpt), status),
                             timeout=timeout)


def raw_greeter(ip, reply):
    """A server on ip:25 that greets with reply and hangs up after the next line."""
    lsock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((ip, 25))
    lsock.listen(5)

    def run():
        lsock.settimeout(60)
        try:
            while True:
                c, _ = lsock.accept()
                with c:
                    c.sendall(reply)
                    c.settimeout(5)
                    try:
                        c.recv(1000)
                    except OSError:
                        pass
        except OSError:
            pass
        finally:
            lsock.close()
    threading.Thread(target=run, daemon=True).start()
    return lsock


# ----------------------------------------------------------------- MX order

def test_mx_preference_order(testnet, build_dir):
    net = testnet
    net.add_host("mx1.example.test", v4="192.0.2.10")
    net.add_host("mx2.example.test", v4="192.0.2.11")
    net.zone("example.test").mx(20, "mx2.example.test").mx(10, "mx1.example.test")
    mx1 = net.smtp_sink("192.0.2.10", dump=True)
    mx2 = net.smtp_sink("192.0.2.11", dump=True)
    pel = sender_postel(net, build_dir)
    msg = submit(pel, ["bob@example.test"], subject="by preference")
    mx1.wait_counts(messages=1, timeout=30)
    got = mx1.messages()[0]
    assert "<alice@postel.test>" in got["mail_from"]
    assert got["rcpt_to"] == ["<bob@example.test>"] or "<bob@example.test>" in got["rcpt_to"][0]
    assert b"Subject: by preference" in got["data"]
    assert mx2.counts()["messages"] == 0
    line = wait_status(pel, "bob@example.test", "sent").group(0)
    assert "relay=mx1.example.test[192.0.2.10]:25" in line


def test_equal_preferences_share_the_load(testnet, build_dir):
    net = testnet
    net.add_host("mxa.example.test", v4="192.0.2.12")
    net.add_host("mxb.example.test", v4="192.0.2.13")
    net.zone("example.test").mx(10, "mxa.example.test").mx(10, "mxb.example.test")
    a = net.smtp_sink("192.0.2.12")
    b = net.smtp_sink("192.0.2.13")
    pel = sender_postel(net, build_dir, smtp_connection_cache_on_demand="no")
    for i in range(16):
        submit(pel, ["u%d@example.test" % i], subject="share %d" % i)
    wait_for(lambda: "16 messages (a=%s b=%s)" % (a.counts(), b.counts()),
             lambda: a.counts()["messages"] + b.counts()["messages"] >= 16, timeout=60)
    assert a.counts()["messages"] > 0 and b.counts()["messages"] > 0


def test_fall_through_refused_unreachable_4xx_5xx_greeting(testnet, build_dir):
    """The first MX hosts refuse, do not answer, greet with 554, say 451 to RCPT: the last
    one gets the mail; each failure is logged."""
    net = testnet
    z = net.zone("example.test")
    net.add_host("refuse.example.test", v4="192.0.2.20")        # no listener: refused
    z.a("blackhole", "192.0.2.99")                               # nobody: times out
    net.add_host("greet554.example.test", v4="192.0.2.21")
    net.add_host("grey.example.test", v4="192.0.2.22")
    net.add_host("good.example.test", v4="192.0.2.23")
    z.mx(10, "refuse.example.test").mx(20, "blackhole.example.test")
    z.mx(30, "greet554.example.test").mx(40, "grey.example.test").mx(50, "good.example.test")
    raw_greeter("192.0.2.21", b"554 5.3.2 not today\r\n")
    grey = net.aiosmtpd_smarthost("192.0.2.22", hostname="grey.example.test",
                                  replies={"RCPT *": "451 4.7.1 Greylisted"})
    good = net.smtp_sink("192.0.2.23")
    # Five addresses, and only the 4xx session counts against the session limit.
    pel = sender_postel(net, build_dir, smtp_mx_address_limit=5)
    submit(pel, ["carol@example.test"])
    good.wait_counts(messages=1, timeout=60)
    log = pel.inst.log_text()
    assert re.search(r"connect to refuse\.example\.test\[192\.0\.2\.20\]:25: Connection refused",
                     log)
    assert re.search(r"connect to blackhole\.example\.test\[192\.0\.2\.99\]:25: Connection "
                     r"timed out", log)
    assert re.search(r"host greet554\.example\.test\[192\.0\.2\.21\] refused to talk to me: "
                     r"554 5\.3\.2 not today", log)
    assert grey.messages() == []
    line = wait_status(pel, "carol@example.test", "sent").group(0)
    assert "relay=good.example.test[192.0.2.23]:25" in line


def test_all_mx_fail_deferred_with_last_error(testnet, build_dir):
    net = testnet
    net.add_host("mx1.example.test", v4="192.0.2.10")
    net.zone("example.test").mx(10, "mx1.example.test")
    net.aiosmtpd_smarthost("192.0.2.10", hostname="mx1.example.test",
                           replies={"RCPT *": "450 4.2.0 mailbox busy"})
    pel = sender_postel(net, build_dir)
    submit(pel, ["dave@example.test"])
    line = wait_status(pel, "dave@example.test", "deferred").group(0)
    assert ("dsn=4.2.0, status=deferred (host mx1.example.test[192.0.2.10] said: 450 4.2.0 "
            "mailbox busy (in reply to RCPT TO command))") in line


def test_5xx_from_mx_bounces_to_sender(testnet, build_dir):
    net = testnet
    net.add_host("mx1.example.test", v4="192.0.2.10")
    net.zone("example.test").mx(10, "mx1.example.test")
    net.aiosmtpd_smarthost("192.0.2.10", hostname="mx1.example.test",
                           replies={"RCPT nobody@example.test": "550 5.1.1 no such user"})
    pel = sender_postel(net, build_dir)
    submit(pel, ["nobody@example.test"], subject="to nobody")
    wait_status(pel, "nobody@example.test", "bounced")
    bounce = pel.wait_messages("alice", timeout=30)[0]
    text = re.sub(r"\n[ \t]+", " ", bounce.raw.decode(errors="replace"))
    assert "550 5.1.1 no such user" in text and "nobody@example.test" in text, text
    assert "mx1.example.test" in text


# ----------------------------------------------------------------- no MX, Null MX, DNS

def test_implicit_mx(testnet, build_dir):
    net = testnet
    net.zone("plain.test").a("@", "192.0.2.30")
    sink = net.smtp_sink("192.0.2.30")
    pel = sender_postel(net, build_dir)
    submit(pel, ["erin@plain.test"])
    sink.wait_counts(messages=1, timeout=30)
    assert "relay=plain.test[192.0.2.30]:25" in wait_status(pel, "erin@plain.test",
                                                             "sent").group(0)


def test_cname_followed(testnet, build_dir):
    net = testnet
    net.add_host("real.example.test", v4="192.0.2.31")
    z = net.zone("example.test")
    z.cname("alias", "real.example.test")
    z.mx(10, "alias.example.test")
    sink = net.smtp_sink("192.0.2.31")
    pel = sender_postel(net, build_dir)
    submit(pel, ["frank@example.test"])
    sink.wait_counts(messages=1, timeout=30)


def test_null_mx_bounces_at_once(testnet, build_dir):
    net = testnet
    net.zone("nullmx.test").mx(0, ".").a("@", "192.0.2.32")
    sink = net.smtp_sink("192.0.2.32")
    pel = sender_postel(net, build_dir)
    submit(pel, ["gina@nullmx.test"], subject="to a Null MX")
    line = wait_status(pel, "gina@nullmx.test", "bounced").group(0)
    assert "relay=none" in line and "dsn=5.1.10" in line
    assert "nullmx.test does not accept mail (nullMX)" in line
    bounce = pel.wait_messages("alice", timeout=30)[0]
    assert b"5.1.10" in bounce.raw
    assert sink.counts()["sessions"] == 0


def test_no_such_domain_and_no_address_bounce(testnet, build_dir):
    net = testnet
    net.zone("empty.test").txt("v=spf1 -all")   # exists, no MX, no A/AAAA
    net.zone("example.test").mx(10, "nothere.example.test")
    pel = sender_postel(net, build_dir)
    submit(pel, ["h@nxdomain.example.test", "i@empty.test", "j@example.test"])
    nx = wait_status(pel, "h@nxdomain.example.test", "bounced").group(0)
    assert ("dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for "
            "name=nxdomain.example.test type=MX: Host not found)") in nx
    empty = wait_status(pel, "i@empty.test", "bounced").group(0)
    assert "dsn=5.4.4" in empty and "name=empty.test type=A" in empty
    nohost = wait_status(pel, "j@example.test", "bounced").group(0)
    assert "dsn=5.4.4" in nohost and "name=nothere.example.test" in nohost


def test_dns_failure_defers_then_delivers(testnet, build_dir):
    net = testnet
    net.add_host("mx1.example.test", v4="192.0.2.10")
    net.zone("example.test").mx(10, "mx1.example.test")
    sink = net.smtp_sink("192.0.2.10")
    pel = sender_postel(net, build_dir)
    net.stop_dns()
    submit(pel, ["kim@example.test"])
    line = wait_status(pel, "kim@example.test", "deferred").group(0)
    assert ("dsn=4.4.3, status=deferred (Host or domain name not found. Name service error "
            "for name=example.test type=MX: Host not found, try again)") in line
    net.start_dns()
    sink.wait_counts(messages=1, timeout=60)
    wait_status(pel, "kim@example.test", "sent")


def test_ipv6_only_mx(testnet, build_dir):
    net = testnet
    net.add_host("mx6.example.test", v6="2001:db8::60")
    net.zone("example.test").mx(10, "mx6.example.test")
    sink = net.smtp_sink("2001:db8::60")
    pel = sender_postel(net, build_dir, inet_protocols="all")
    submit(pel, ["lee@example.test"])
    sink.wait_counts(messages=1, timeout=30)
    assert "relay=mx6.example.test[2001:db8::60]:25" in wait_status(
        pel, "lee@example.test", "sent").group(0)


# ----------------------------------------------------------------- this host as an MX

def test_backup_mx_uses_only_better_preferences(testnet, build_dir):
    """This host is MX 20 of backed.test: the mail goes to MX 10, never to itself; when MX 10
    refuses, it waits (deferred) instead of looping."""
    net = testnet
    net.add_host("primary.backed.test", v4="192.0.2.40")
    net.add_host("mail.postel.test", v4=POSTEL_IP)
    (net.zone("backed.test").mx(10, "primary.backed.test").mx(20, "mail.postel.test"))
    pel = sender_postel(net, build_dir)
    submit(pel, ["mia@backed.test"])
    line = wait_status(pel, "mia@backed.test", "deferred").group(0)
    assert "connect to primary.backed.test[192.0.2.40]:25: Connection refused" in line
    assert "loops back" not in pel.inst.log_text()
    sink = net.smtp_sink("192.0.2.40")
    sink.wait_counts(messages=1, timeout=60)


def test_best_mx_is_this_host_loops(testnet, build_dir):
    net = testnet
    net.add_host("mail.postel.test", v4=POSTEL_IP)
    net.add_host("other.loop.test", v4="192.0.2.41")
    net.zone("loop.test").mx(10, "mail.postel.test").mx(20, "other.loop.test")
    sink = net.smtp_sink("192.0.2.41")
    pel = sender_postel(net, build_dir)
    submit(pel, ["ned@loop.test"], subject="loop")
    line = wait_status(pel, "ned@loop.test", "bounced").group(0)
    assert "dsn=5.4.6, status=bounced (mail for loop.test loops back to myself)" in line
    pel.wait_messages("alice", timeout=30)
    assert sink.counts()["sessions"] == 0


def test_mx_by_address_is_this_host(testnet, build_dir):
    """An MX host under another name whose address is this host's is this host too."""
    net = testnet
    net.add_host("alias-of-me.addr.test", v4=POSTEL_IP)
    net.zone("addr.test").mx(5, "alias-of-me.addr.test")
    pel = sender_postel(net, build_dir)
    submit(pel, ["oli@addr.test"])
    line = wait_status(pel, "oli@addr.test", "bounced").group(0)
    assert "mail for addr.test loops back to myself" in line


# ----------------------------------------------------------------- real peers

def test_postfix_peer_starttls_and_bytes(testnet, build_dir):
    net = testnet
    pf = net.postfix_peer("192.0.2.60", domain="remote.test", hostname="mx.remote.test",
                          users=["pat"], tls=True)
    net.add_host("mx.remote.test", v4="192.0.2.60")
    net.zone("remote.test").mx(10, "mx.remote.test")
    net.reload_dns()
    pel = sender_postel(net, build_dir, smtp_tls_CAfile=net.ca_file)
    raw = (b"From: Alice <alice@postel.test>\r\nTo: pat@remote.test\r\n"
           b"Subject: to Postfix\r\nMessage-ID: <mx-1@postel.test>\r\n\r\n"
           b"Line one.\r\n.Dotted line.\r\n\r\nCaf\xc3\xa9 8-bit.\r\n")
    submit(pel, ["pat@remote.test"], raw=raw)
    got = pf.wait_messages("pat@remote.test", timeout=30)[0]
    body = got.raw.split(b"\n\n", 1)[1]
    assert body == b"Line one.\n.Dotted line.\n\nCaf\xc3\xa9 8-bit.\n"
    assert got.header("Message-ID") == "<mx-1@postel.test>"
    pel.inst.wait_log(r"Trusted TLS connection established to mx\.remote\.test\[192\.0\.2\.60\]"
                      r":25: TLSv1\.3 with cipher \S+ \(\d+/\d+ bits\)")
    assert "status=sent (250 2.0.0 Ok: queued as" in wait_status(pel, "pat@remote.test",
                                                                  "sent").group(0)


def test_smarthost_implicit_tls_auth_generic(testnet, build_dir):
    """Relaying through a provider: implicit TLS on 465, AUTH, and the provider account's
    address in the envelope and in From:."""
    net = testnet
    hub = net.aiosmtpd_smarthost("192.0.2.70", 465, tls="implicit", hostname="smtp.provider.test",
                                 auth={"alice.smith@provider.test": "pa55word"},
                                 require_auth=True)
    net.add_host("smtp.provider.test", v4="192.0.2.70")
    tables = os.path.join(net.dir, "tables")  # pytest's own directories are private
    os.makedirs(tables)
    passwd = os.path.join(tables, "sasl_passwd")
    with open(passwd, "w") as f:
        f.write("[smtp.provider.test]:465 alice.smith@provider.test:pa55word\n")
    os.chmod(passwd, 0o600)
    generic = os.path.join(tables, "generic")
    with open(generic, "w") as f:
        f.write("alice@postel.test alice.smith@provider.test\n")
    pel = sender_postel(net, build_dir, relayhost="[smtp.provider.test]:465",
                        smtp_tls_wrappermode="yes", smtp_sasl_auth_enable="yes",
                        smtp_sasl_password_maps="texthash:%s" % passwd,
                        smtp_generic_maps="texthash:%s" % generic,
                        smtp_tls_CAfile=net.ca_file)
    submit(pel, ["friend@elsewhere.test"], subject="via provider")
    m = hub.wait_messages(1, timeout=30)[0]
    assert m["mail_from"] == "alice.smith@provider.test"
    assert m["rcpt_tos"] == ["friend@elsewhere.test"]
    assert m["auth"] is not None and "alice.smith@provider.test" in str(m["auth"])
    assert m["tls"] is not None
    assert b"From: Alice <alice.smith@provider.test>\r\n" in m["data"]
    pel.inst.wait_log(r"Trusted TLS connection established to smtp\.provider\.test"
                      r"\[192\.0\.2\.70\]:465")
    assert "pa55word" not in pel.inst.log_text()


def test_dsn_parameters_passed_on(testnet, build_dir):
    """A server with DSN gets RET, ENVID, NOTIFY and ORCPT as the client gave them."""
    net = testnet
    net.add_host("mx1.example.test", v4="192.0.2.10")
    net.zone("example.test").mx(10, "mx1.example.test")
    sink = net.smtp_sink("192.0.2.10", dump=True)
    pel = sender_postel(net, build_dir)
    with smtplib.SMTP(POSTEL_IP, 25, timeout=30) as c:
        c.sendmail("alice@postel.test", ["pia@example.test", "quinn@example.test"],
                   b"Subject: dsn\r\n\r\nx\r\n", mail_options=["RET=HDRS", "ENVID=env+2Bid"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;pia+40old@example.test"])
    sink.wait_counts(messages=1, timeout=30)
    got = sink.messages()[0]
    assert "RET=HDRS" in got["mail_from"] and "ENVID=env+2Bid" in got["mail_from"]
    rcpts = sorted(got["rcpt_to"])
    assert any("pia@example.test" in r and "NOTIFY=SUCCESS,FAILURE" in r
               and "ORCPT=rfc822;pia+40old@example.test" in r for r in rcpts), rcpts
    assert any("quinn@example.test" in r and "NOTIFY=SUCCESS,FAILURE" in r for r in rcpts), rcpts
