"""ETRN (RFC 1985) and postqueue -s: the per-site flush of the deferred queue.

An instance with smtpd, qmgr and smtp relays to an aiosmtpd peer on
127.0.0.1 (relayhost). The peer first answers 451 to RCPT, so the mail is
deferred; the back-off and the queue run delay are an hour, so only a
flush can explain a delivery within the test. Then ETRN (or postqueue -s)
for the domain delivers that domain's mail and nothing else.
"""

import smtplib
import time

import pytest

from instance import wait_for
from test_smtp import HAVE_AIOSMTPD, Peer, SmtpTest, need

SLOW = {
    "minimal_backoff_time": "1h",
    "maximal_backoff_time": "1h",
    "queue_run_delay": "1h",
    "relay_domains": "example.test other.test",
    "fast_flush_domains": "example.test",
    "relay_transport": "smtp",
}

GREY = "451 4.7.1 Greylisted, try again"


@pytest.fixture
def peer():
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer()
    yield p
    p.stop()


def make(tmp_path, build_dir, peer, **config):
    need(build_dir, "smtp/smtp", "qmgr/qmgr", "smtpd/smtpd", "tools/postqueue",
         "tests/integration/queue_tool")
    settings = dict(SLOW)
    settings["relayhost"] = "[127.0.0.1]:%d" % peer.port
    settings.update(config)
    return SmtpTest(tmp_path, build_dir, config=settings)


def deferred(t, peer, rcpts):
    """Queue one message per recipient; wait until each is deferred by the peer's 451,
    then let the peer accept them."""
    for r in rcpts:
        peer.handler.rcpt_replies[r] = GREY
    ids = {}
    for r in rcpts:
        qid = t.queue("alice@sender.example", [r], b"Subject: to %s\n\nhi\n" % r.encode())
        t.wait_log(r"%s: to=<%s>, .*status=deferred" % (qid, r.replace(".", r"\.")))
        ids[r] = qid
    for r in rcpts:
        del peer.handler.rcpt_replies[r]
    return ids


def client(t):
    c = smtplib.SMTP("127.0.0.1", t.smtpd_port, timeout=30)
    return c


def delivered_to(peer):
    return sorted(r for m in peer.messages for r in m["rcpt_tos"])


def test_etrn_flushes_only_that_domain(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer)
    ids = deferred(t, peer, ["bob@example.test", "carol@other.test"])
    with client(t) as c:
        code, text = c.ehlo("client.example")
        assert code == 250
        assert "etrn" in c.esmtp_features
        code, text = c.docmd("ETRN", "example.test")
        assert (code, text) == (250, b"Queuing started")
    peer.wait_messages(1, t.inst, timeout=30)
    t.wait_log(r"%s: to=<bob@example\.test>, .*status=sent" % ids["bob@example.test"])
    t.wait_log(r"ETRN example\.test")
    time.sleep(1.5)
    assert delivered_to(peer) == ["bob@example.test"]
    # The other domain's mail is still waiting for its retry time.
    assert not t.queue_empty()


def test_etrn_at_domain_form_and_case(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer)
    ids = deferred(t, peer, ["bob@example.test"])
    with client(t) as c:
        c.helo("client.example")
        code, text = c.docmd("ETRN", "@EXAMPLE.test")
        assert (code, text) == (250, b"Queuing started")
    peer.wait_messages(1, t.inst, timeout=30)
    t.wait_log(r"%s: to=<bob@example\.test>, .*status=sent" % ids["bob@example.test"])
    wait_for("queue empty", t.queue_empty, timeout=10)


def test_etrn_domain_not_in_fast_flush_domains(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer)
    deferred(t, peer, ["carol@other.test"])
    with client(t) as c:
        c.ehlo("client.example")
        code, text = c.docmd("ETRN", "other.test")
        assert code == 459
        assert text == b"4.7.1 <other.test>: Unable to service ETRN request"
        # The session goes on.
        assert c.noop()[0] == 250
    t.wait_log(r"NOQUEUE: reject: ETRN from .*459 4\.7\.1 <other\.test>")
    time.sleep(2)
    assert peer.messages == []


def test_etrn_default_is_relay_domains(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer, fast_flush_domains="$relay_domains")
    ids = deferred(t, peer, ["carol@other.test"])
    with client(t) as c:
        c.ehlo("client.example")
        assert c.docmd("ETRN", "unrelated.test")[0] == 459
        assert c.docmd("ETRN", "other.test") == (250, b"Queuing started")
    peer.wait_messages(1, t.inst, timeout=30)
    t.wait_log(r"%s: to=<carol@other\.test>, .*status=sent" % ids["carol@other.test"])


def test_etrn_syntax_and_state(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer)
    with client(t) as c:
        assert c.docmd("ETRN", "example.test") == (503, b"5.5.1 Error: send HELO/EHLO first")
        c.ehlo("client.example")
        for bad in ("", "bad..domain", "-x y", "a_b.test", "x" * 300, "@", "exa mple.test"):
            code, text = c.docmd("ETRN", bad) if bad else c.docmd("ETRN")
            assert (code, text) == (501, b"5.5.4 Syntax: ETRN domain"), bad
        code, text = c.docmd("ETRN", "#queue1")
        assert code == 458
        assert c.mail("alice@sender.example")[0] == 250
        assert c.docmd("ETRN", "example.test") == (
            503, b"5.5.1 Error: MAIL transaction in progress")
        assert c.rset()[0] == 250
        assert c.docmd("ETRN", "example.test") == (250, b"Queuing started")


def test_postqueue_s_flushes_the_site(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer)
    ids = deferred(t, peer, ["bob@example.test", "carol@other.test"])
    # Any site, not only fast_flush_domains (postqueue -f flushes everything anyway).
    r = t.inst.run_tool("postqueue", "-s", "other.test")
    assert r.returncode == 0, r.stderr
    peer.wait_messages(1, t.inst, timeout=30)
    t.wait_log(r"%s: to=<carol@other\.test>, .*status=sent" % ids["carol@other.test"])
    time.sleep(1.5)
    assert delivered_to(peer) == ["carol@other.test"]
    r = t.inst.run_tool("postqueue", "-s", "bad..site")
    assert r.returncode == 64
    assert "invalid site name" in r.stderr


def test_sendmail_qR_flushes_the_site(tmp_path, build_dir, peer):
    t = make(tmp_path, build_dir, peer)
    need(build_dir, "tools/sendmail")
    ids = deferred(t, peer, ["bob@example.test", "carol@other.test"])
    r = t.inst.run([t.inst.tool("sendmail"), "-qRexample.test"])
    assert r.returncode == 0, r.stderr
    peer.wait_messages(1, t.inst, timeout=30)
    t.wait_log(r"%s: to=<bob@example\.test>, .*status=sent" % ids["bob@example.test"])
    time.sleep(1.5)
    assert delivered_to(peer) == ["bob@example.test"]


def test_etrn_after_the_peer_was_down(tmp_path, build_dir):
    """The peer refuses connections at first; once it listens, ETRN delivers."""
    if not HAVE_AIOSMTPD:
        pytest.skip("python3-aiosmtpd is not installed")
    p = Peer()
    port = p.port
    p.stop()

    class Down:
        pass
    down = Down()
    down.port = port
    t = make(tmp_path, build_dir, down)
    qid = t.queue("alice@sender.example", ["bob@example.test"], b"Subject: down\n\nhi\n")
    t.wait_log(r"%s: to=<bob@example\.test>, .*status=deferred" % qid)
    p = Peer(port=port)
    try:
        with client(t) as c:
            c.ehlo("client.example")
            assert c.docmd("ETRN", "example.test") == (250, b"Queuing started")
        p.wait_messages(1, t.inst, timeout=30)
        t.wait_log(r"%s: to=<bob@example\.test>, .*status=sent" % qid)
    finally:
        p.stop()
