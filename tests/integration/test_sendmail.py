"""sendmail, postdrop and pickup: local submission, as programs use it.

An instance runs master with pickup only (no qmgr), so that each message
stays in incoming/ where the test reads it with tools/postcat: its envelope
("name: value" lines) and its content (postcat -hb, byte for byte). One
test runs qmgr and local too and checks the Maildir. The build tree's
programs are called by path with -C, never through PATH.
"""

import glob
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import time

import pytest

from instance import Instance, wait_for

PICKUP = "pickup unix n - n 60 1 pickup"
QID = r"[0-9A-HJKMNP-TV-Z]{16}"


def need(build_dir, *rels):
    for rel in rels:
        if not os.access(os.path.join(build_dir, rel), os.X_OK):
            pytest.skip("%s is not built" % rel)


class Local:
    """An instance with pickup, and helpers to submit and inspect."""

    def __init__(self, tmp_path, build_dir, config=None, start=True):
        need(build_dir, "tools/sendmail", "tools/postdrop", "tools/postcat", "pickup/pickup")
        self.inst = Instance(tmp_path / "inst", build_dir, config=config,
                             daemons=["master", "pickup"], master_cf=[PICKUP])
        self.spool = self.inst.spool
        self.user = pwd.getpwuid(os.getuid()).pw_name
        if start:
            self.inst.start()
        else:
            self.inst.check()

    def sendmail(self, *args, input=b"", env=None, tool="sendmail"):
        """Run sendmail -C etc args with bytes input; CompletedProcess (bytes)."""
        full_env = dict(os.environ, POSTEL_CONFIG_DIR=self.inst.etc)
        full_env.pop("NAME", None)
        full_env.update(env or {})
        argv = [self.inst.tool(tool), "-C", self.inst.etc] + [str(a) for a in args]
        return subprocess.run(argv, input=input, capture_output=True, timeout=60, env=full_env)

    def incoming(self):
        return sorted(glob.glob(os.path.join(self.spool, "incoming", "*.msg")))

    def maildrop(self):
        return sorted(os.listdir(os.path.join(self.spool, "maildrop")))

    def corrupt(self):
        return sorted(os.listdir(os.path.join(self.spool, "corrupt")))

    def wait_queued(self, count=1, timeout=15):
        """Wait until incoming/ holds count files and maildrop/ is empty; the newest path."""
        wait_for(lambda: "%d queue file(s) in incoming/ (have %s, maildrop %s)\n%s"
                 % (count, self.incoming(), self.maildrop(), self.inst.log_tail()),
                 lambda: len(self.incoming()) >= count and not self.maildrop(), timeout)
        return self.incoming()[-1]

    def postcat(self, *args):
        r = subprocess.run([self.inst.tool("postcat")] + list(args), capture_output=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def envelope(self, path):
        """(fields, recipients): fields name -> value; recipients: list of dicts."""
        fields, rcpts = {}, []
        for line in self.postcat("-e", path).decode().splitlines():
            if line.startswith("***"):
                continue
            name, _, value = line.partition(": ")
            if name == "recipient":
                rcpts.append({"address": value})
            elif name.startswith("  "):
                rcpts[-1][name.strip()] = value
            elif name == "attribute":
                k, _, v = value.partition("=")
                fields["attr." + k] = v
            else:
                fields[name] = value
        return fields, rcpts

    def content(self, path):
        return self.postcat("-hb", path)


@pytest.fixture
def lo(tmp_path, build_dir):
    t = Local(tmp_path, build_dir)
    yield t
    t.inst.stop()


def headers_of(content):
    """The header block as a list of (name, raw header) and the body."""
    head, _, body = content.partition(b"\n\n")
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\n" + line)
        else:
            fields.append((line.split(b":", 1)[0].lower(), line))
    return fields, body


# ---------------------------------------------------------------- sendmail -t -i


def test_php_mail_t_i(lo):
    """PHP's mail(): sendmail -t -i; recipients from the headers, Bcc gone, headers added."""
    msg = (b"To: Alice <alice@example.com>, bob@example.org\n"
           b"Cc: carol\n"
           b"Bcc: secret@example.net\n"
           b"Subject: PHP test\n"
           b"X-Mailer: PHP/8.2\n"
           b"\n"
           b"first line\n"
           b".\n"
           b"after the dot\n")
    mark = lo.inst.log_mark()
    r = lo.sendmail("-t", "-i", input=msg)
    assert r.returncode == 0, r.stderr
    path = lo.wait_queued()
    qid = os.path.basename(path)[:-4]
    fields, rcpts = lo.envelope(path)
    assert fields["sender"] == "%s@mail.example.com" % lo.user
    assert fields["attr.uid"] == str(os.getuid())
    assert [rc["address"] for rc in rcpts] == [
        "alice@example.com", "bob@example.org", "carol@mail.example.com",
        "secret@example.net"]
    assert rcpts[2]["original_recipient"] == "carol"
    assert all(rc["status"] == "pending" for rc in rcpts)

    content = lo.content(path)
    fields_, body = headers_of(content)
    names = [n for n, _ in fields_]
    assert names[0] == b"received"
    received = fields_[0][1].decode()
    assert re.fullmatch(r"Received: by mail\.example\.com \(Postel, from userid %d\)\n"
                        r"\tid %s; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}.*"
                        % (os.getuid(), qid), received), received
    assert b"bcc" not in names
    assert b"secret@example.net" not in content
    # The message's own headers, unchanged and in order, then what was missing.
    assert names[1:6] == [b"to", b"cc", b"subject", b"x-mailer", b"message-id"]
    assert dict(fields_)[b"to"] == b"To: Alice <alice@example.com>, bob@example.org"
    assert set(names) >= {b"message-id", b"date", b"from"}
    assert dict(fields_)[b"from"] == b"From: %s@mail.example.com" % lo.user.encode()
    msgid = dict(fields_)[b"message-id"].split(b": ", 1)[1].decode()
    assert re.fullmatch(r"<\d{14}\.%s@mail\.example\.com>" % qid, msgid)
    # -i: the "." line is data.
    assert body == b"first line\n.\nafter the dot\n"

    log = lo.inst.log_text()[mark:]
    assert re.search(r"postel/pickup\[\d+\]: %s: uid=%d from=<%s>$"
                     % (qid, os.getuid(), lo.user), log, re.M), log
    assert "%s: message-id=%s" % (qid, msgid) in log, log


def test_t_resent_headers_groups_and_arguments(lo):
    """-t with Resent- headers takes Resent-To/Cc/Bcc only; groups; arguments are added."""
    msg = (b"To: old@example.com\n"
           b"Resent-From: me@example.org\n"
           b"Resent-To: undisclosed-recipients:;\n"
           b"Resent-Cc: Team: one@example.com, two@example.com;\n"
           b"Resent-Bcc: hidden@example.com\n"
           b"\n"
           b"x\n")
    r = lo.sendmail("-t", "extra@example.com", "one@example.com", input=msg)
    assert r.returncode == 0, r.stderr
    path = lo.wait_queued()
    _, rcpts = lo.envelope(path)
    assert [rc["address"] for rc in rcpts] == ["extra@example.com", "one@example.com",
                                                "two@example.com", "hidden@example.com"]


def test_resent_bcc_removed(lo):
    msg = (b"To: a@example.com\nResent-From: me@example.org\n"
           b"Resent-To: b@example.com\nResent-Bcc: hidden@example.com\n\nx\n")
    r = lo.sendmail("-t", input=msg)
    assert r.returncode == 0, r.stderr
    path = lo.wait_queued()
    assert [rc["address"] for rc in lo.envelope(path)[1]] == ["b@example.com",
                                                              "hidden@example.com"]
    assert b"hidden@example.com" not in lo.content(path)


def test_sender_fullname_and_command_line_recipients(lo):
    """-f, -F and recipients as arguments (address lists allowed), no -t."""
    r = lo.sendmail("-f", "Web Site <www@example.org>", "-F", "Jo Q. Doe",
                    "x@example.com", "Y <y@example.net>, z@example.com", "x@example.com",
                    input=b"Subject: s\n\nbody\n")
    assert r.returncode == 0, r.stderr
    path = lo.wait_queued()
    fields, rcpts = lo.envelope(path)
    assert fields["sender"] == "www@example.org"
    # Repeated recipients are queued once.
    assert [rc["address"] for rc in rcpts] == ["x@example.com", "y@example.net",
                                                "z@example.com"]
    hdrs, body = headers_of(lo.content(path))
    assert dict(hdrs)[b"from"] == b'From: "Jo Q. Doe" <www@example.org>'
    assert body == b"body\n"


def test_fullname_from_environment_and_utf8(lo):
    """NAME is the full name without -F; non-ASCII names are RFC 2047 encoded."""
    r = lo.sendmail("-f", "u@example.org", "a@example.com", input=b"\nbody\n",
                    env={"NAME": "J\u00f6rg M\u00fcller"})
    assert r.returncode == 0, r.stderr
    hdrs, _ = headers_of(lo.content(lo.wait_queued()))
    assert dict(hdrs)[b"from"] == b"From: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <u@example.org>"


def test_existing_from_is_kept(lo):
    r = lo.sendmail("-F", "Ignored Name", "a@example.com",
                    input=b"From: Real <real@example.com>\nSubject: x\n\nb\n")
    assert r.returncode == 0, r.stderr
    hdrs, _ = headers_of(lo.content(lo.wait_queued()))
    assert [h for n, h in hdrs if n == b"from"] == [b"From: Real <real@example.com>"]


def test_dsn_options_in_envelope(lo):
    """-N, -R, -V and -B end up in the queue file's envelope."""
    r = lo.sendmail("-N", "success,delay", "-R", "hdrs", "-V", "abc+1 x", "-B", "8bitmime",
                    "a@example.com", "b@example.com", input=b"Subject: dsn\n\nx\n")
    assert r.returncode == 0, r.stderr
    fields, rcpts = lo.envelope(lo.wait_queued())
    assert fields["dsn_ret"] == "HDRS"
    assert fields["envelope_id"] == "abc+2B1+20x"  # xtext, as SMTP ENVID= stores it
    assert fields["body_type"] == "8BITMIME"
    assert [rc["dsn_notify"] for rc in rcpts] == ["SUCCESS,DELAY"] * 2


def test_null_sender_and_never(lo):
    r = lo.sendmail("-f", "<>", "-N", "never", "a@example.com", input=b"x\n")
    assert r.returncode == 0, r.stderr
    path = lo.wait_queued()
    fields, rcpts = lo.envelope(path)
    assert fields["sender"] == ""
    assert rcpts[0]["dsn_notify"] == "NEVER"
    hdrs, body = headers_of(lo.content(path))
    assert dict(hdrs)[b"from"] == b"From: MAILER-DAEMON@mail.example.com"
    # "x" is no header: the body starts there, after the added headers and an empty line.
    assert body == b"x\n"


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("args,stdin", [
    (["a b@@example.com"], b"x\n"),
    (["user@exa mple.com"], b"x\n"),
    (["<>"], b"x\n"),
    (["-f", "bad sender@@x", "a@example.com"], b"x\n"),
    (["-t"], b"To: this is not an address\n\nx\n"),
    (["-t"], b"To: ok@example.com\nCc: <broken@\n\nx\n"),
    (["-t"], b"Subject: no recipients\n\nx\n"),
    (["-V", "bad\tenvid", "a@example.com"], b"x\n"),
], ids=["spaces", "domain-space", "null-rcpt", "sender", "to-header", "cc-header",
        "no-header-rcpt", "envid"])
def test_bad_input_exit_65_nothing_queued(lo, args, stdin):
    r = lo.sendmail(*args, input=stdin)
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert b"sendmail: fatal:" in r.stderr
    time.sleep(0.3)
    assert lo.maildrop() == [] and lo.incoming() == []


@pytest.mark.parametrize("args,status", [
    ([], 64),                          # no recipients, no -t
    (["-N", "sometimes", "a@x.example"], 64),
    (["-R", "partial", "a@x.example"], 64),
    (["-bd"], 64),
    (["-bz"], 64),
    (["-Z", "a@x.example"], 64),
])
def test_usage_errors(lo, args, status):
    r = lo.sendmail(*args, input=b"x\n")
    assert r.returncode == status, (r.returncode, r.stderr)
    assert lo.maildrop() == []


def test_message_size_limit(tmp_path, build_dir):
    t = Local(tmp_path, build_dir, config={"message_size_limit": "2000"})
    r = t.sendmail("a@example.com", input=b"Subject: big\n\n" + b"x" * 3000 + b"\n")
    assert r.returncode == 65, r.stderr
    assert b"message_size_limit" in r.stderr
    r = t.sendmail("a@example.com", input=b"Subject: small\n\n" + b"x" * 1000 + b"\n")
    assert r.returncode == 0, r.stderr
    t.wait_queued()
    assert len(t.incoming()) == 1


def test_not_authorized_user(tmp_path, build_dir):
    t = Local(tmp_path, build_dir,
              config={"authorized_submit_users": "!%s, static:anyone"
                      % pwd.getpwuid(os.getuid()).pw_name})
    r = t.sendmail("a@example.com", input=b"x\n")
    assert r.returncode == 77, r.stderr
    assert b"not allowed to submit mail" in r.stderr
    assert t.maildrop() == []


# ---------------------------------------------------------------- message text


def test_dot_ends_input_without_i(lo):
    r = lo.sendmail("a@example.com", input=b"Subject: dot\n\nbefore\n.\nafter\n")
    assert r.returncode == 0, r.stderr
    _, body = headers_of(lo.content(lo.wait_queued()))
    assert body == b"before\n"


def test_8bit_crlf_long_lines_and_missing_newline(lo):
    """CR LF becomes LF, a bare CR stays, 8-bit bytes and long lines are kept, a last
    line end is added."""
    long_line = b"L" * 5000
    msg = (b"Subject: =?UTF-8?B?w6TDtsO8?=\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n"
           b"\r\n"
           b"caf\xe9 \xc3\xa4\xc3\xb6\r\n"
           b"bare\rcr\r\n"
           b"..two dots\r\n"
           + long_line + b"\r\n"
           b"no newline at the end")
    r = lo.sendmail("-i", "a@example.com", input=msg)
    assert r.returncode == 0, r.stderr
    content = lo.content(lo.wait_queued())
    hdrs, body = headers_of(content)
    assert dict(hdrs)[b"subject"] == b"Subject: =?UTF-8?B?w6TDtsO8?="
    assert body == (b"caf\xe9 \xc3\xa4\xc3\xb6\nbare\rcr\n..two dots\n" + long_line +
                    b"\nno newline at the end\n")
    assert b"\r\n" not in content


def test_mailq_and_bp(lo, build_dir):
    """sendmail -bp and the name mailq run postqueue -p."""
    need(build_dir, "tools/postqueue")
    lo.inst.stop()  # the message stays in maildrop/
    r = lo.sendmail("-f", "queued@example.org", "a@example.com", input=b"x\n")
    assert r.returncode == 0, r.stderr
    assert len(lo.maildrop()) == 1
    r = lo.sendmail("-bp")
    assert r.returncode == 0, r.stderr
    assert b"queued@example.org" in r.stdout
    mailq = os.path.join(os.path.dirname(lo.inst.dir), "mailq")
    os.symlink(lo.inst.tool("sendmail"), mailq)
    r = subprocess.run([mailq], capture_output=True, timeout=30,
                       env=dict(os.environ, POSTEL_CONFIG_DIR=lo.inst.etc))
    assert r.returncode == 0, r.stderr
    assert b"queued@example.org" in r.stdout


# ---------------------------------------------------------------- -bs


def test_bs_session(lo):
    """sendmail -bs: a local SMTP session; the message is queued like any other."""
    dialogue = (b"EHLO client.example\r\n"
                b"MAIL FROM:<s@example.org> RET=HDRS ENVID=e+2B1\r\n"
                b"RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@example.com\r\n"
                b"RCPT TO:<b@example.com>\r\n"
                b"DATA\r\n"
                b"Subject: bs\r\n\r\n..stuffed\r\nend\r\n.\r\n"
                b"MAIL FROM:<>\r\n"
                b"DATA\r\n"
                b"RSET\r\n"
                b"QUIT\r\n")
    r = lo.sendmail("-bs", input=dialogue)
    assert r.returncode == 0, r.stderr
    codes = [line[:4] for line in r.stdout.split(b"\r\n") if line]
    assert codes[0] == b"220 "
    assert b"250-DSN" in r.stdout and b"250-PIPELINING" in r.stdout
    assert codes[-6:] == [b"354 ", b"250 ", b"250 ", b"503 ", b"250 ", b"221 "], r.stdout
    assert b"250 2.0.0 Ok: queued" in r.stdout
    path = lo.wait_queued()
    fields, rcpts = lo.envelope(path)
    assert fields["sender"] == "s@example.org"
    assert fields["dsn_ret"] == "HDRS"
    assert fields["envelope_id"] == "e+2B1"
    assert rcpts[0]["dsn_notify"] == "SUCCESS,FAILURE"
    assert rcpts[0]["dsn_orcpt"] == "rfc822;a@example.com"
    assert "dsn_notify" not in rcpts[1]
    _, body = headers_of(lo.content(path))
    assert body == b".stuffed\nend\n"


def test_bs_bad_commands(lo):
    dialogue = (b"HELO\r\nMAIL FROM:<a b@c>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nFOO\r\n" +
                b"NOOP " + b"x" * 3000 + b"\r\nQUIT\r\n")
    r = lo.sendmail("-bs", input=dialogue)
    codes = [line[:3] for line in r.stdout.split(b"\r\n") if line]
    assert codes == [b"220", b"501", b"501", b"503", b"503", b"502", b"500", b"221"], r.stdout
    assert lo.maildrop() == []


# ---------------------------------------------------------------- pickup


def write_maildrop(lo, name, data, mode=0o644):
    path = os.path.join(lo.spool, "maildrop", name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def rec(t, data=b""):
    return t + len(data).to_bytes(4, "big") + data


MAGIC = b"POSTEL-MAILDROP 1\n"


@pytest.mark.parametrize("data,reason", [
    (b"garbage, not a maildrop file", "bad magic"),
    (MAGIC + rec(b"S", b"u") + rec(b"R", b"a@example.com") + rec(b"M", b"x\n"),
     "premature end"),
    (MAGIC + rec(b"S", b"u") + rec(b"R", b"a b@example.com") + rec(b"E"), "bad recipient"),
    (MAGIC + rec(b"S", b"u") + rec(b"F", b"Eve\nBcc: x@y") + rec(b"R", b"a@x.example") +
     rec(b"E"), "control character"),
    (MAGIC + rec(b"S", b"u") + rec(b"R", b"a@x.example") + rec(b"E") + b"trailing",
     "data after the end record"),
    (MAGIC + b"M\xff\xff\xff\xff", "too long"),
], ids=["magic", "truncated", "recipient", "header-injection", "trailing", "huge-length"])
def test_pickup_moves_bad_files_aside(lo, data, reason):
    """An invalid maildrop file goes to corrupt/ with a warning; pickup keeps working."""
    name = "1K0Z00000000000A"
    write_maildrop(lo, name, data)
    r = lo.sendmail("a@example.com", input=b"Subject: after\n\nx\n")  # wakes pickup
    assert r.returncode == 0, r.stderr
    m = lo.inst.wait_log(r"warning: maildrop/%s: uid=\d+: .*%s.*: moved to corrupt/(%s)\.msg"
                         % (name, re.escape(reason), QID))
    assert lo.corrupt() == [m.group(1) + ".msg"]
    with open(os.path.join(lo.spool, "corrupt", m.group(1) + ".msg"), "rb") as f:
        assert f.read() == data  # kept as it was, for inspection
    path = lo.wait_queued()
    assert len(lo.incoming()) == 1
    assert b"Subject: after" in lo.content(path)


def test_pickup_odd_entries(lo):
    """Names that are not maildrop files, symlinks and hard links never reach the queue."""
    md = os.path.join(lo.spool, "maildrop")
    write_maildrop(lo, "junk name\n", b"whatever")
    os.symlink("/etc/passwd", os.path.join(md, "1K0Z00000000000B"))
    target = os.path.join(lo.inst.dir, "target")
    with open(target, "wb") as f:
        f.write(MAGIC + rec(b"S", b"u") + rec(b"R", b"a@x.example") + rec(b"E"))
    os.link(target, os.path.join(md, "1K0Z00000000000C"))
    lo.sendmail("a@example.com", input=b"x\n")
    lo.inst.wait_log(r"maildrop/junk name\?: not a maildrop file name: moved to corrupt/")
    lo.inst.wait_log(r"maildrop/1K0Z00000000000B: cannot open: .*: moved to corrupt/")
    lo.inst.wait_log(r"maildrop/1K0Z00000000000C: uid=\d+: more than one hard link: moved")
    lo.wait_queued()
    assert len(lo.corrupt()) == 3
    assert len(lo.incoming()) == 1
    assert os.path.exists("/etc/passwd") and os.path.exists(target)


def test_pickup_leaves_files_in_progress(lo):
    """A postdrop temporary file (<id>.tmp) is not touched while it is young."""
    write_maildrop(lo, "1K0Z00000000000D.tmp", MAGIC + rec(b"S", b"u"))
    lo.sendmail("a@example.com", input=b"x\n")
    wait_for("the real message in incoming/", lambda: len(lo.incoming()) == 1, 15)
    # pickup removes its maildrop file just after the queue file is committed.
    wait_for("only the young .tmp file left in maildrop/",
             lambda: lo.maildrop() == ["1K0Z00000000000D.tmp"], 15)
    assert lo.corrupt() == []


def test_pickup_takes_files_queued_while_down(tmp_path, build_dir):
    """sendmail works while the mail system is stopped; pickup takes the file at start."""
    t = Local(tmp_path, build_dir, start=False)
    # master wakes pickup at start: no need to wait for the 60s wakeup time.
    t.inst.set_master_cf([PICKUP.replace(" 60 ", " 3600 ")])
    r = t.sendmail("a@example.com", input=b"Subject: offline\n\nx\n")
    assert r.returncode == 0, r.stderr
    assert b"unable to wake up pickup" in r.stderr
    assert len(t.maildrop()) == 1
    t.inst.start()
    path = t.wait_queued()
    assert b"Subject: offline" in t.content(path)


def test_hop_count_bounces(tmp_path, build_dir):
    """A looping message (too many Received:) is queued with its recipients bounced."""
    t = Local(tmp_path, build_dir, config={"hopcount_limit": "5"})
    msg = b"".join(b"Received: from hop%d\n" % i for i in range(4)) + b"Subject: loop\n\nx\n"
    r = t.sendmail("a@example.com", "b@example.com", input=msg)
    assert r.returncode == 0, r.stderr
    path = t.wait_queued()
    _, rcpts = t.envelope(path)
    assert [rc["status"] for rc in rcpts] == ["bounced", "bounced"]
    t.inst.wait_log(r"%s: to=<a@example\.com>, relay=none, delay=0, dsn=5\.4\.6, "
                    r"status=bounced \(mail loop: 5 Received: headers" % os.path.basename(path)[:-4])
    # One hop fewer is delivered normally.
    r = t.sendmail("c@example.com", input=msg[msg.index(b"\n") + 1:])
    path = t.wait_queued(count=2)
    _, rcpts = t.envelope(path)
    assert rcpts[0]["status"] == "pending"


def test_postdrop_refuses_garbage_directly(lo):
    """postdrop checks its input itself: nothing reaches maildrop/."""
    for data in (b"hello", MAGIC + rec(b"S", b"u") + rec(b"R", b"a@x.example")):
        r = subprocess.run([lo.inst.tool("postdrop"), "-c", lo.inst.etc], input=data,
                           capture_output=True, timeout=30)
        assert r.returncode == 65, r.stderr
        assert b"postdrop: fatal: invalid input" in r.stderr
    assert lo.maildrop() == []


def test_setgid_postdrop_refuses_foreign_config(tmp_path, build_dir):
    """Installed set-gid, postdrop accepts -c from a user only for listed directories."""
    need(build_dir, "tools/postdrop")
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    try:
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrnam("postdrop") if _has_group("postdrop") else None
    except KeyError:
        pytest.skip("no nobody user")
    if group is None:
        pytest.skip("no postdrop group")
    t = Local(tmp_path, build_dir, start=False)
    bindir = os.path.join(str(tmp_path), "sbin")
    os.makedirs(bindir)
    os.chmod(str(tmp_path), 0o755)
    postdrop = os.path.join(bindir, "postdrop")
    shutil.copy(t.inst.tool("postdrop"), postdrop)
    os.chown(postdrop, 0, group.gr_gid)
    os.chmod(postdrop, 0o2755)
    r = subprocess.run(["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
                        str(nobody.pw_gid), "--clear-groups", postdrop, "-c", t.inst.etc],
                       input=b"", capture_output=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", "POSTEL_CONFIG_DIR": t.inst.etc})
    if b"Operation not permitted" in r.stderr or r.returncode == 126:
        pytest.skip("set-gid programs cannot run here: %r" % r.stderr)
    assert r.returncode == 77, r.stderr
    assert b"not listed in alternate_config_directories" in r.stderr
    assert t.maildrop() == []


def _has_group(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


# ---------------------------------------------------------------- end to end


def test_end_to_end_sendmail_to_maildir(tmp_path, build_dir):
    """sendmail -t -i -> postdrop -> pickup -> qmgr -> local -> Maildir, byte for byte."""
    need(build_dir, "tools/sendmail", "tools/postdrop", "pickup/pickup", "qmgr/qmgr",
         "local/local", "tools/postalias")
    vmail = os.path.join(str(tmp_path), "vmail")
    os.makedirs(vmail)
    os.chmod(vmail, 0o1777)
    inst = Instance(tmp_path / "inst", build_dir, daemons=["master", "pickup", "qmgr", "local"],
                    config={
                        "local_mailbox_maps": "inline:{ va=%s/va/ }" % vmail,
                        "local_recipient_maps": "inline:{ va=ok }",
                        "mail_spool_directory": os.path.join(str(tmp_path), "inst", "mail") + "/",
                    },
                    master_cf=[PICKUP, "qmgr unix n - n 300 1 qmgr",
                               "local unix - n n - - local"])
    os.chmod(inst.mail, 0o1777)
    inst.run_tool("postalias", os.path.join(inst.etc, "aliases"), check=True)
    inst.start()
    # A message with everything cleanup would add, so that only Received: is new.
    msg = (b"From: Sender <sender@example.org>\n"
           b"To: va@mail.example.com\n"
           b"Bcc: va@mail.example.com\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
           b"Message-ID: <e2e-1@example.org>\n"
           b"Subject: end to end \xc3\xa4\n"
           b"\n"
           b"Hello.\n"
           b".\n"
           b"\xe9t\xe9 \xff\n"
           b"last line without newline")
    env = dict(os.environ, POSTEL_CONFIG_DIR=inst.etc)
    r = subprocess.run([inst.tool("sendmail"), "-C", inst.etc, "-t", "-i", "-f",
                        "sender@example.org"], input=msg, capture_output=True, timeout=60,
                       env=env)
    assert r.returncode == 0, r.stderr
    m = inst.wait_log(r"(%s): to=<va@mail\.example\.com>, relay=local, .*status=sent" % QID,
                      timeout=30)
    qid = m.group(1)
    inst.wait_log(r"postel/pickup\[\d+\]: %s: uid=%d from=<sender@example\.org>"
                  % (qid, os.getuid()))
    inst.wait_log(r"%s: message-id=<e2e-1@example\.org>" % qid)
    inst.wait_log(r"%s: from=<sender@example\.org>, size=\d+, nrcpt=1 \(queue active\)" % qid)
    inst.wait_log(r"%s: removed" % qid)
    new = os.path.join(vmail, "va", "new")
    files = wait_for("a message in %s" % new, lambda: os.path.isdir(new) and os.listdir(new),
                     timeout=10)
    assert len(files) == 1  # To and Bcc name the same mailbox: one copy
    with open(os.path.join(new, files[0]), "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    assert lines[0] == b"Return-Path: <sender@example.org>"
    i = 1
    while lines[i].startswith(b"Delivered-To:"):
        i += 1
    assert lines[i].startswith(b"Received: by mail.example.com (Postel, from userid %d)"
                               % os.getuid())
    assert lines[i + 1].startswith(b"\tid %s; " % qid.encode())
    rest = b"\n".join(lines[i + 2:])
    expected = msg.replace(b"Bcc: va@mail.example.com\n", b"") + b"\n"
    assert rest == expected


# ---------------------------------------------------------------- other modes


def test_bi_runs_newaliases(lo, build_dir):
    """sendmail -bi (and -I) rebuild the alias tables through newaliases."""
    need(build_dir, "tools/newaliases")
    db = os.path.join(lo.inst.etc, "aliases.db")
    for flag in ("-bi", "-I"):
        if os.path.exists(db):
            os.unlink(db)
        r = lo.sendmail(flag)
        assert r.returncode == 0, r.stderr
        assert os.path.exists(db)


def test_q_interval_ignored_and_bd_refused(lo):
    r = lo.sendmail("-q30m")
    assert r.returncode == 0, r.stderr
    r = lo.sendmail("-bd")
    assert r.returncode == 64
    assert b"postel start" in r.stderr
