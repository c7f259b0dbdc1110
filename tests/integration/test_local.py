"""local(8): final delivery, driven through the delivery protocol.

Each test starts an instance whose master.cf has only the local service
("local unix - n n - - local", so it runs as root when the tests do) and
hands messages to it with local/local-test-client, which writes a queue
file and speaks the qmgr side of lib/mail/deliver.h. The tests check what
a person would check: the mailbox file byte for byte, its owner, the
result (status, DSN code, text) and the log line.

Accounts. As root, the tests add their own users (postel-t1, postel-t2)
to a copy of /etc that is bind-mounted over the real one in a private
mount namespace of this test process (the system's files are never
touched, and the accounts vanish with the process). As
another user, only that user's own account is available; the tests that
need other accounts are skipped, and the rest use local_mailbox_maps
(names without an account, delivered as the instance's user).
"""

import ctypes
import errno
import glob
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from instance import Instance, wait_for

ROOT = os.geteuid() == 0
LOCAL_CF = "local unix - n n - - local"
DOMAIN = "mail.example.com"
SENDER = "sender@example.org"

TEST_USERS = ("postel-t1", "postel-t2")
TEST_GROUP = "postel-tg"  # supplementary group of postel-t1
UID_BASE = 61720

MESSAGE = (b"From: Sender <sender@example.org>\n"
           b"To: someone@mail.example.com\n"
           b"Subject: local delivery test\n"
           b"Message-ID: <local-test@example.org>\n"
           b"\n"
           b"First line.\n"
           b"From the start of a line, a From_ line.\n"
           b">From already quoted.\n"
           b"\n"
           b"Last line.\n")


# ------------------------------------------------------------------ accounts

def _in_private_mount_ns():
    try:
        return os.readlink("/proc/self/ns/mnt") != os.readlink("/proc/1/ns/mnt")
    except OSError:
        return False


def _unshare_mount_ns():
    """Give this process its own mount namespace with private propagation."""
    if _in_private_mount_ns():
        subprocess.run(["mount", "--make-rprivate", "/"], check=True, capture_output=True)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS = 0x00020000
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    subprocess.run(["mount", "--make-rprivate", "/"], check=True, capture_output=True)


def _make_searchable(path):
    """Let other users reach path: o+x on it and every directory above it."""
    while True:
        st = os.stat(path)
        if not st.st_mode & 0o001:
            os.chmod(path, (st.st_mode & 0o7777) | 0o001)
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


class Accounts:
    """The users the tests deliver to: name -> pwd entry, and where their homes are."""

    def __init__(self, homes):
        self.homes = homes
        self.names = []

    def get(self, name):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            with open("/etc/passwd") as f:
                raise AssertionError("%s vanished from /etc/passwd (%s):\n%s"
                                     % (name, os.readlink("/proc/self/ns/mnt"), f.read()[-400:]))

    def need(self, *names):
        for name in names:
            if name not in self.names:
                pytest.skip("needs the test account %s (run the tests as root)" % name)


def _public_tmpdir(prefix):
    """A new directory that other users can reach: not under pytest's basetemp, which
    every pytest run of the same user makes private again (mode 0700)."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """As root: test users in a private copy of the passwd and group files."""
    homes = _public_tmpdir("postel-local-homes.")
    acc = Accounts(homes)
    if not ROOT:
        acc.names.append(pwd.getpwuid(os.getuid()).pw_name)
        yield acc
        shutil.rmtree(homes, ignore_errors=True)
        return
    _unshare_mount_ns()
    # A copy of all of /etc over /etc: a file bind mount would not survive another
    # program (useradd elsewhere on the host) renaming a new /etc/passwd into place.
    etc = os.path.join(str(tmp_path_factory.mktemp("etc")), "etc")
    subprocess.run(["cp", "-a", "/etc", etc], check=True, capture_output=True)
    subprocess.run(["mount", "--bind", etc, "/etc"], check=True, capture_output=True)
    _make_searchable(homes)
    used = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    uid = UID_BASE
    with open("/etc/passwd", "a") as pw, open("/etc/group", "a") as gr:
        for name in TEST_USERS:
            while uid in used:
                uid += 1
            home = os.path.join(homes, name)
            os.mkdir(home)
            os.chown(home, uid, uid)
            os.chmod(home, 0o755)
            pw.write("%s:x:%d:%d:Postel test:%s:/bin/sh\n" % (name, uid, uid, home))
            gr.write("%s:x:%d:\n" % (name, uid))
            used.add(uid)
            acc.names.append(name)
        while uid in used:
            uid += 1
        gr.write("%s:x:%d:%s\n" % (TEST_GROUP, uid, TEST_USERS[0]))
    for name in TEST_USERS:
        assert pwd.getpwnam(name).pw_dir.startswith(homes)
    yield acc
    shutil.rmtree(homes, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clean_homes(accounts):
    """Each test starts with empty homes (no .forward, no Maildir of an earlier test)."""
    yield
    if ROOT:
        for name in accounts.names:
            home = os.path.join(accounts.homes, name)
            for entry in os.listdir(home):
                path = os.path.join(home, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)


# ------------------------------------------------------------------ the instance

class LocalInstance:
    """An instance with the local service and a way to hand it messages."""

    def __init__(self, tmp_path, build_dir, config=None):
        self.tmp = str(tmp_path)
        self.vmail = os.path.join(self.tmp, "vmail")
        os.makedirs(self.vmail, exist_ok=True)
        os.chmod(self.vmail, 0o1777)
        settings = {
            "mail_spool_directory": os.path.join(self.tmp, "inst", "mail") + "/",
            "local_mailbox_maps": "inline:{ va=%s/va/, vb=%s/vb/, vc=%s/vc/, vm=%s/vm.mbox }"
                                  % (self.vmail, self.vmail, self.vmail, self.vmail),
            "command_time_limit": "20s",
        }
        settings.update(config or {})
        self.inst = Instance(os.path.join(self.tmp, "inst"), build_dir, config=settings,
                             master_cf=[LOCAL_CF], daemons=["master", "local"])
        self.client = os.path.join(build_dir, "local", "local-test-client")
        if not os.access(self.client, os.X_OK):
            pytest.skip("local/local-test-client is not built (make check builds it)")
        os.chmod(self.inst.mail, 0o1777)
        _make_searchable(self.tmp)
        self.aliases("postmaster: root\n")

    def aliases(self, text):
        """Write etc/aliases and build it with postalias."""
        path = os.path.join(self.inst.etc, "aliases")
        with open(path, "w") as f:
            f.write(text)
        self.inst.run_tool("postalias", path, check=True)

    def start(self):
        self.inst.start()
        return self

    def deliver(self, *rcpts, message=MESSAGE, sender=SENDER, extra=(), timeout=60):
        """Hand message to local for rcpts; [(status, dsn, action, text)] in recipient order."""
        args = [self.client, "-c", self.inst.etc, "-s", sender] + list(extra) + list(rcpts)
        r = subprocess.run(args, input=message, capture_output=True, timeout=timeout)
        assert r.returncode == 0, "client failed: %s\n%s" % (r.stderr.decode(errors="replace"),
                                                              self.inst.log_tail())
        results = {}
        for line in r.stdout.decode().splitlines():
            index, status, dsn, action, text = line.split("\t", 4)
            results[int(index)] = (status, dsn, action, text)
        return [results[i] for i in range(len(rcpts))]

    def log_wait(self, pattern, timeout=10.0):
        return self.inst.wait_log(pattern, timeout=timeout)


@pytest.fixture
def workdir():
    """The test's own directory, reachable by the test users (see _public_tmpdir)."""
    path = _public_tmpdir("postel-local.")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_local(workdir, build_dir):
    """make_local(config) -> a started LocalInstance."""
    made = []

    def make(config=None, aliases=None, start=True):
        li = LocalInstance(os.path.join(workdir, "i%d" % len(made)), build_dir, config)
        if aliases is not None:
            li.aliases(aliases)
        made.append(li)
        return li.start() if start else li
    yield make
    for li in made:
        li.inst.stop()


def maildir_messages(path):
    """The files in path/new, sorted by name."""
    return [os.path.join(path, "new", n) for n in sorted(os.listdir(os.path.join(path, "new")))]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def headers(delivered, sender=SENDER):
    return ("Return-Path: <%s>\nDelivered-To: %s\n" % (sender, delivered)).encode()


def me():
    return pwd.getpwuid(os.getuid()).pw_name


def mbox_split(data):
    """An mboxrd file into (from_line, message) pairs."""
    assert data.startswith(b"From "), data[:80]
    parts = re.split(rb"\n\n(?=From )", data.rstrip(b"\n"))
    out = []
    for p in parts:
        first, _, rest = p.partition(b"\n")
        out.append((first, rest + b"\n"))
    return out


def mbox_unquote(text):
    return re.sub(rb"(?m)^>(>*From )", rb"\1", text)


# ------------------------------------------------------------------ mailboxes

@pytest.mark.parametrize("spool_mode", ["1777", "2775 root:mail", "0755 root:root"])
def test_maildir_delivery_byte_for_byte(make_local, accounts, spool_mode):
    """A Maildir message is the message itself after exactly Return-Path and Delivered-To.

    As root, also in a spool directory that only its group (Debian's /var/mail) or only
    root may write: the Maildir is still the user's."""
    user = accounts.names[0]
    li = make_local(start=False)
    if spool_mode != "1777":
        if not ROOT:
            pytest.skip("needs root")
        mode, owner = spool_mode.split()
        os.chown(li.inst.mail, 0, grp.getgrnam(owner.split(":")[1]).gr_gid)
        os.chmod(li.inst.mail, int(mode, 8))
    li.start()
    rcpt = "%s@%s" % (user, DOMAIN)
    assert li.deliver(rcpt) == [("sent", "2.0.0", "delivered", "delivered to maildir")]
    box = os.path.join(li.inst.mail, user)
    files = maildir_messages(box)
    assert len(files) == 1
    assert read(files[0]) == headers(rcpt) + MESSAGE
    assert os.listdir(os.path.join(box, "tmp")) == []
    pw = accounts.get(user)
    st = os.stat(files[0])
    assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, 0o600)
    assert os.stat(box).st_uid == pw.pw_uid
    assert os.stat(box).st_mode & 0o077 == 0
    li.log_wait(r": to=<%s>, relay=local, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/0/[0-9.]+, "
                r"dsn=2\.0\.0, status=sent \(delivered to maildir\)" % re.escape(rcpt))


def test_null_sender_and_crlf(make_local, accounts):
    """The null sender is Return-Path: <>; CR LF line ends are stored as LF."""
    li = make_local()
    li.deliver("va@" + DOMAIN, message=MESSAGE.replace(b"\n", b"\r\n"), sender="")
    (f,) = maildir_messages(os.path.join(li.vmail, "va"))
    assert read(f) == headers("va@" + DOMAIN, sender="") + MESSAGE


def test_mbox_delivery_from_quoting(make_local, accounts):
    """mbox: From line, headers, >From quoting, a blank line after each message."""
    user = accounts.names[0]
    spool = None
    li = make_local({"mail_spool_directory": "$queue_directory/../mail"})
    spool = li.inst.mail
    if ROOT:
        # Debian's /var/mail: root:mail, 2775; the mailbox is made as the user, group mail.
        os.chown(spool, 0, grp.getgrnam("mail").gr_gid)
        os.chmod(spool, 0o2775)
    rcpt = "%s@%s" % (user, DOMAIN)
    second = MESSAGE.replace(b"First line.", b"Second message.")
    assert li.deliver(rcpt)[0][:2] == ("sent", "2.0.0")
    assert li.deliver(rcpt, message=second, sender="")[0] == ("sent", "2.0.0", "delivered",
                                                               "delivered to mailbox")
    path = os.path.join(spool, user)
    data = read(path)
    msgs = mbox_split(data)
    assert len(msgs) == 2
    assert re.match(rb"From sender@example\.org \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$",
                    msgs[0][0])
    assert msgs[1][0].startswith(b"From MAILER-DAEMON ")
    assert msgs[0][1] == headers(rcpt) + MESSAGE.replace(b"\nFrom the", b"\n>From the")\
        .replace(b"\n>From already", b"\n>>From already")
    assert mbox_unquote(msgs[1][1]) == headers(rcpt, sender="") + second
    assert data.endswith(b"Last line.\n\n")
    assert not os.path.exists(path + ".lock")
    if ROOT:
        st = os.stat(path)
        assert st.st_uid == accounts.get(user).pw_uid
        assert st.st_gid == grp.getgrnam("mail").gr_gid
    li.log_wait(r"to=<%s>.*status=sent \(delivered to mailbox\)" % re.escape(rcpt))


def test_mbox_owned_by_someone_else_is_deferred(make_local, accounts):
    """As root: a mailbox file of the wrong owner defers (fix it, the mail waits)."""
    accounts.need(*TEST_USERS)
    li = make_local({"mail_spool_directory": "$queue_directory/../mail"})
    path = os.path.join(li.inst.mail, "postel-t1")
    with open(path, "wb"):
        pass
    os.chown(path, accounts.get("postel-t2").pw_uid, 0)
    res = li.deliver("postel-t1@" + DOMAIN)
    assert res[0][:2] == ("deferred", "4.2.0")
    assert "not owned by the recipient" in res[0][3]
    assert os.path.getsize(path) == 0
    os.symlink("/etc/passwd", os.path.join(li.inst.mail, "postel-t2"))
    res = li.deliver("postel-t2@" + DOMAIN)
    assert res[0][:2] == ("bounced", "5.2.0")


def test_mbox_concurrent_deliveries_never_interleave(make_local, accounts):
    """Many deliveries to one mbox at once: every message arrives whole."""
    li = make_local({"mail_spool_directory": "$queue_directory/../mail"})
    count = 16
    body = b"".join(b"line %04d of a long message that takes a while to write\n" % i
                    for i in range(2000))
    errors = []

    def one(n):
        msg = b"Subject: concurrent %d\n\n" % n + body.replace(b"line", b"m%02d" % n)
        try:
            res = li.deliver("vm@" + DOMAIN, message=msg)
            if res[0][0] != "sent":
                errors.append(res)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    msgs = mbox_split(read(os.path.join(li.vmail, "vm.mbox")))
    assert len(msgs) == count
    seen = set()
    for _, text in msgs:
        n = int(re.search(rb"Subject: concurrent (\d+)", text).group(1))
        seen.add(n)
        expect = headers("vm@" + DOMAIN) + b"Subject: concurrent %d\n\n" % n + \
            body.replace(b"line", b"m%02d" % n)
        assert text == expect
    assert seen == set(range(count))


def test_mailbox_size_limit(make_local, accounts):
    """Over mailbox_size_limit: bounced 5.2.2; the mbox keeps its old contents."""
    li = make_local({"mailbox_size_limit": "3000"})
    big = MESSAGE + b"x" * 70 + b"\n" + b"y" * 3000 + b"\n"
    res = li.deliver("va@" + DOMAIN, message=big)
    assert res[0][:2] == ("bounced", "5.2.2")
    assert li.deliver("va@" + DOMAIN)[0][0] == "sent"
    assert li.deliver("vm@" + DOMAIN)[0][0] == "sent"
    before = read(os.path.join(li.vmail, "vm.mbox"))
    res = li.deliver("vm@" + DOMAIN, message=big)
    assert res[0][:2] == ("bounced", "5.2.2")
    assert read(os.path.join(li.vmail, "vm.mbox")) == before
    li.log_wait(r"to=<vm@%s>.*dsn=5\.2\.2, status=bounced \(cannot update mailbox" %
                re.escape(DOMAIN))


def test_unknown_user(make_local, accounts):
    li = make_local()
    res = li.deliver("no-such-user-x@" + DOMAIN)
    assert res == [("bounced", "5.1.1", "", 'unknown user: "no-such-user-x"')]
    li.log_wait(r'to=<no-such-user-x@%s>, relay=local, .*dsn=5\.1\.1, '
                r'status=bounced \(unknown user: "no-such-user-x"\)' % re.escape(DOMAIN))


def test_loop_detection(make_local, accounts):
    """A message that already has Delivered-To: <this recipient> is bounced 5.4.6."""
    li = make_local()
    msg = b"Delivered-To: VA@mail.example.com\n" + MESSAGE
    res = li.deliver("va@" + DOMAIN, "vb@" + DOMAIN, message=msg)
    assert res[0] == ("bounced", "5.4.6", "", "mail forwarding loop for va@" + DOMAIN)
    assert res[1][0] == "sent"
    # Only the header block counts.
    msg = MESSAGE + b"Delivered-To: vc@mail.example.com\n"
    assert li.deliver("vc@" + DOMAIN, message=msg)[0][0] == "sent"


def test_address_extension(make_local, accounts):
    """user+ext goes to user's mailbox; the alias user+ext is tried before user."""
    li = make_local({"recipient_delimiter": "+"}, aliases="vb+list: vc\n")
    assert li.deliver("va+news@" + DOMAIN)[0][0] == "sent"
    (f,) = maildir_messages(os.path.join(li.vmail, "va"))
    assert read(f) == headers("va+news@" + DOMAIN) + MESSAGE
    assert li.deliver("vb+list@" + DOMAIN)[0][0] == "sent"
    (f,) = maildir_messages(os.path.join(li.vmail, "vc"))
    assert read(f) == headers("vb+list@" + DOMAIN) + MESSAGE
    assert not os.path.exists(os.path.join(li.vmail, "vb"))


def test_unprivileged_other_user_is_deferred(make_local, accounts):
    """Without root, mail for another account waits (never lost, never misdelivered)."""
    if ROOT:
        pytest.skip("only without root")
    li = make_local()
    res = li.deliver("root@" + DOMAIN)
    assert res[0][:2] == ("deferred", "4.3.0")


# ------------------------------------------------------------------ aliases

def test_alias_including_itself(make_local, accounts):
    """a: a, b gives a copy to a's mailbox and one to b, and no loop."""
    li = make_local(aliases="va: va, vb\n")
    res = li.deliver("va@" + DOMAIN)
    assert res[0][:3] == ("sent", "2.0.0", "expanded")
    for name in ("va", "vb"):
        (f,) = maildir_messages(os.path.join(li.vmail, name))
        assert read(f) == headers("va@" + DOMAIN) + MESSAGE
    li.log_wait(r"to=<va@%s>, relay=local.*status=sent \(delivered to maildir\)"
                % re.escape(DOMAIN))
    li.log_wait(r"to=<vb@%s>, orig_to=<va@%s>, relay=local.*status=sent \(delivered to maildir\)"
                % (re.escape(DOMAIN), re.escape(DOMAIN)))


def test_alias_chain_and_duplicates(make_local, accounts):
    """Nested aliases; a mailbox reached twice gets one copy; a mutual loop is stopped."""
    li = make_local(aliases="team: va, sub\nsub: vb, va\nping: pong\npong: ping\n")
    res = li.deliver("team@" + DOMAIN)
    assert res[0][0] == "sent"
    assert len(maildir_messages(os.path.join(li.vmail, "va"))) == 1
    assert len(maildir_messages(os.path.join(li.vmail, "vb"))) == 1
    res = li.deliver("ping@" + DOMAIN)
    assert res[0][:2] == ("bounced", "5.4.6")
    assert "nesting limit" in res[0][3]


def test_alias_to_user_account(make_local, accounts):
    """An alias to an account delivers to its mailbox with the original Delivered-To."""
    user = accounts.names[0]
    li = make_local(aliases="postmaster: %s\n" % user)
    assert li.deliver("postmaster@" + DOMAIN)[0][0] == "sent"
    (f,) = maildir_messages(os.path.join(li.inst.mail, user))
    assert read(f) == headers("postmaster@" + DOMAIN) + MESSAGE


def test_owner_alias_becomes_sender(make_local, accounts):
    """A list with an owner-list alias is delivered with the sender owner-list."""
    li = make_local(aliases="list: va, someone@remote.example\nowner-list: vb\n")
    assert li.deliver("list@" + DOMAIN)[0][0] == "sent"
    (f,) = maildir_messages(os.path.join(li.vmail, "va"))
    assert read(f) == headers("list@" + DOMAIN, sender="owner-list@" + DOMAIN) + MESSAGE
    m = li.log_wait(r"to=<someone@remote\.example>.*forwarded as (\w+)")
    data = read(os.path.join(li.inst.spool, "incoming", m.group(1) + ".msg"))
    assert ("owner-list@" + DOMAIN).encode() in data
    # Without the owner alias (or with owner_request_special = no) the sender stays.
    li2 = make_local({"owner_request_special": "no"},
                     aliases="list: vc\nowner-list: vb\n")
    assert li2.deliver("list@" + DOMAIN)[0][0] == "sent"
    (f,) = maildir_messages(os.path.join(li2.vmail, "vc"))
    assert read(f).startswith(b"Return-Path: <%s>\n" % SENDER.encode())


def test_expansion_limit(make_local, accounts):
    li = make_local({"local_expansion_limit": "2"}, aliases="many: va, vb, vc\n")
    res = li.deliver("many@" + DOMAIN)
    assert res[0][:2] == ("bounced", "5.4.6")
    assert "expansion limit" in res[0][3]
    assert len(maildir_messages(os.path.join(li.vmail, "va"))) == 1


def test_forward_to_remote_address(make_local, accounts):
    """A remote address in an alias is forwarded as a new queue file with Delivered-To."""
    li = make_local(aliases="fw: someone@remote.example, va\n")
    res = li.deliver("fw@" + DOMAIN)
    assert res[0][0] == "sent"
    m = li.log_wait(r"to=<someone@remote\.example>, orig_to=<fw@%s>, relay=local, .*"
                    r"status=sent \(forwarded as (\w+)\)" % re.escape(DOMAIN))
    qid = m.group(1)
    path = os.path.join(li.inst.spool, "incoming", qid + ".msg")
    data = read(path)
    assert (headers("fw@" + DOMAIN)[len("Return-Path: <%s>\n" % SENDER):] + MESSAGE) in data
    assert b"someone@remote.example" in data
    if ROOT:
        assert os.stat(path).st_uid == pwd.getpwnam(li.inst.mail_owner).pw_uid


# ------------------------------------------------------------------ commands

SCRIPT = """#!/bin/sh
out=%(dir)s/out.$$
cat > "$out.msg"
{ echo "USER=$USER"; echo "RECIPIENT=$RECIPIENT"; echo "SENDER=$SENDER";
  echo "EXTENSION=$EXTENSION"; echo "LOCAL=$LOCAL"; echo "DOMAIN=$DOMAIN"; echo "PATH=$PATH";
  echo "uid=$(id -u)"; echo "groups=$(id -G)"; } > "$out.env"
echo "said something on stderr" >&2
exit ${1:-0}
"""


def write_script(li, code=0):
    """A command that saves its input and environment in a directory anyone may write."""
    outdir = os.path.join(li.tmp, "cmdout")
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o1777)
    path = os.path.join(li.tmp, "save.sh")
    with open(path, "w") as f:
        f.write(SCRIPT % {"dir": outdir})
    os.chmod(path, 0o755)
    return path, outdir


def command_outputs(outdir):
    msgs = sorted(glob.glob(os.path.join(outdir, "*.msg")))
    return [(read(m), read(m[:-4] + ".env").decode()) for m in msgs]


def test_pipe_to_command(make_local, accounts):
    li = make_local(start=False)
    script, outdir = write_script(li)
    li.aliases('cmd: "|%s 0"\n' % script)
    li.start()
    res = li.deliver("cmd@" + DOMAIN)
    assert res == [("sent", "2.0.0", "delivered", 'delivered to command: %s 0' % script)]
    ((data, env),) = command_outputs(outdir)
    first, _, rest = data.partition(b"\n")
    assert re.match(rb"From sender@example\.org \w{3} \w{3} ", first)
    assert rest == headers("cmd@" + DOMAIN) + MESSAGE
    assert "RECIPIENT=cmd@%s\n" % DOMAIN in env
    assert "SENDER=%s\n" % SENDER in env
    assert "USER=cmd\n" in env and "PATH=/usr/bin:/bin\n" in env
    if ROOT:
        # The alias table belongs to root: the command runs as default_privs.
        assert "uid=%d\n" % pwd.getpwnam("nobody").pw_uid in env
    li.log_wait(r"to=<cmd@%s>.*status=sent \(delivered to command: " % re.escape(DOMAIN))


@pytest.mark.parametrize("code,status,dsn,text", [
    (67, "bounced", "5.1.1", "user unknown"),
    (75, "deferred", "4.3.0", "temporary failure"),
    (65, "bounced", "5.6.0", "data format error"),
    (3, "bounced", "5.3.0", "Command died with status 3"),
])
def test_command_exit_status(make_local, accounts, code, status, dsn, text):
    """Exit codes mean what sysexits.h says, as in Postfix; output goes into the reason."""
    li = make_local(start=False)
    script, _ = write_script(li)
    li.aliases('cmd: "|%s %d"\n' % (script, code))
    li.start()
    (res,) = li.deliver("cmd@" + DOMAIN)
    assert res[:3] == (status, dsn, "")
    assert res[3].startswith(text)
    assert res[3].endswith("Command output: said something on stderr")
    li.log_wait(r"to=<cmd@%s>.*dsn=%s, status=%s \(%s" % (re.escape(DOMAIN), re.escape(dsn),
                                                          status, re.escape(text)))


def test_command_time_limit(make_local, accounts):
    li = make_local({"command_time_limit": "2s"}, aliases='slow: "|exec sleep 60"\n')
    start = time.monotonic()
    (res,) = li.deliver("slow@" + DOMAIN)
    assert time.monotonic() - start < 20
    assert res[:2] == ("bounced", "5.3.0")
    assert res[3].startswith("Command time limit exceeded")


def test_command_that_does_not_read(make_local, accounts):
    """A command may exit without reading its input: that is a delivery (EPIPE is fine)."""
    li = make_local(aliases='quick: "|/bin/true"\n')
    big = MESSAGE + b"z" * 500000 + b"\n"
    assert li.deliver("quick@" + DOMAIN, message=big)[0][0] == "sent"


def test_mailbox_command(make_local, accounts):
    """mailbox_command replaces mailbox delivery; it runs with the user's rights."""
    user = accounts.names[0]
    li = make_local(start=False)
    script, outdir = write_script(li)
    li.inst.set_config(mailbox_command="%s 0 $user" % script)
    li.start()
    rcpt = "%s@%s" % (user, DOMAIN)
    assert li.deliver(rcpt)[0] == ("sent", "2.0.0", "delivered",
                                   "delivered to command: %s 0 %s" % (script, user))
    ((data, env),) = command_outputs(outdir)
    assert data.partition(b"\n")[2] == headers(rcpt) + MESSAGE
    assert "uid=%d\n" % accounts.get(user).pw_uid in env
    assert not os.path.exists(os.path.join(li.inst.mail, user))


# ------------------------------------------------------------------ files and :include:

def test_deliver_to_file(make_local, accounts):
    li = make_local(start=False)
    outdir = os.path.join(li.tmp, "files")
    os.makedirs(outdir)
    os.chmod(outdir, 0o1777)
    target = os.path.join(outdir, "archive")
    link = os.path.join(outdir, "link")
    os.symlink(os.path.join(outdir, "elsewhere"), link)
    li.aliases("arch: %s\nlnk: %s\nnull: /dev/null\n" % (target, link))
    li.start()
    assert li.deliver("arch@" + DOMAIN)[0] == ("sent", "2.0.0", "delivered",
                                               "delivered to file: " + target)
    assert li.deliver("arch@" + DOMAIN)[0][0] == "sent"
    msgs = mbox_split(read(target))
    assert len(msgs) == 2
    assert mbox_unquote(msgs[0][1]) == headers("arch@" + DOMAIN) + MESSAGE
    if ROOT:
        assert os.stat(target).st_uid == pwd.getpwnam("nobody").pw_uid
    res = li.deliver("lnk@" + DOMAIN)
    assert res[0][:2] == ("bounced", "5.2.0")
    assert not os.path.exists(os.path.join(outdir, "elsewhere"))
    assert li.deliver("null@" + DOMAIN)[0][3] == "delivered to file: /dev/null"


def test_include_file(make_local, accounts):
    li = make_local(start=False)
    inc = os.path.join(li.tmp, "list.txt")
    with open(inc, "w") as f:
        f.write("# members\nva,\n  vb\n\nvc\n")
    os.chmod(inc, 0o644)
    cmdinc = os.path.join(li.tmp, "cmds.txt")
    with open(cmdinc, "w") as f:
        f.write("|/bin/true\n")
    li.aliases("list: :include:%s\ncmds: :include:%s\n" % (inc, cmdinc))
    li.start()
    assert li.deliver("list@" + DOMAIN)[0][:3] == ("sent", "2.0.0", "expanded")
    for name in ("va", "vb", "vc"):
        assert len(maildir_messages(os.path.join(li.vmail, name))) == 1
    # Commands in :include: files are not allowed by default.
    res = li.deliver("cmds@" + DOMAIN)
    assert res[0] == ("bounced", "5.7.1", "", "mail to command is restricted")


def test_allow_mail_to_commands(make_local, accounts):
    li = make_local({"allow_mail_to_commands": "forward"}, aliases='c: "|/bin/true"\n')
    assert li.deliver("c@" + DOMAIN)[0][:2] == ("bounced", "5.7.1")


# ------------------------------------------------------------------ .forward

def write_forward(li, accounts, user, text, mode=0o644):
    """Write user's .forward (in the home as root; in forward_path's directory otherwise)."""
    if ROOT:
        path = os.path.join(accounts.get(user).pw_dir, ".forward")
    else:
        path = os.path.join(li.tmp, "forward", user)
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    if ROOT:
        pw = accounts.get(user)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def forward_config(tmp):
    return {} if ROOT else {"forward_path": "%s/forward/$user" % tmp}


def test_dot_forward(make_local, accounts, workdir):
    user = accounts.names[0]
    li = make_local(forward_config(os.path.join(workdir, "i0")), start=False)
    fwd = write_forward(li, accounts, user, "# keep a copy\n\\%s, va\n" % user)
    li.start()
    rcpt = "%s@%s" % (user, DOMAIN)
    assert li.deliver(rcpt)[0][:3] == ("sent", "2.0.0", "expanded")
    (f,) = maildir_messages(os.path.join(li.inst.mail, user))
    assert read(f) == headers(rcpt) + MESSAGE
    (f,) = maildir_messages(os.path.join(li.vmail, "va"))
    assert read(f) == headers(rcpt) + MESSAGE

    # Writable by others: ignored, the mail goes to the mailbox only.
    os.chmod(fwd, 0o666)
    assert li.deliver(rcpt)[0][:3] == ("sent", "2.0.0", "delivered")
    assert len(maildir_messages(os.path.join(li.inst.mail, user))) == 2
    assert len(maildir_messages(os.path.join(li.vmail, "va"))) == 1
    li.log_wait(r"may be written by group or others; ignored")

    # An empty .forward: the mailbox.
    os.chmod(fwd, 0o644)
    with open(fwd, "w") as f:
        f.write("# nothing\n")
    assert li.deliver(rcpt)[0][0] == "sent"
    assert len(maildir_messages(os.path.join(li.inst.mail, user))) == 3


def test_dot_forward_command_runs_as_user(make_local, accounts, workdir):
    """A .forward command runs with the user's rights and supplementary groups."""
    user = accounts.names[0]
    li = make_local(forward_config(os.path.join(workdir, "i0")), start=False)
    script, outdir = write_script(li)
    write_forward(li, accounts, user, '"|%s"\n' % script)
    li.start()
    assert li.deliver("%s@%s" % (user, DOMAIN))[0][0] == "sent"
    ((data, env),) = command_outputs(outdir)
    pw = accounts.get(user)
    assert "uid=%d\n" % pw.pw_uid in env
    assert "USER=%s\n" % user in env
    if ROOT:
        assert str(grp.getgrnam(TEST_GROUP).gr_gid) in env.split("groups=")[1].split()


def test_dot_forward_from_other_user(make_local, accounts):
    """As root: postel-t2's mail forwarded to postel-t1 by .forward; files owned right."""
    accounts.need(*TEST_USERS)
    li = make_local(start=False)
    write_forward(li, accounts, "postel-t2", "postel-t1\n")
    li.start()
    assert li.deliver("postel-t2@" + DOMAIN)[0][0] == "sent"
    (f,) = maildir_messages(os.path.join(li.inst.mail, "postel-t1"))
    assert os.stat(f).st_uid == accounts.get("postel-t1").pw_uid
    assert read(f) == headers("postel-t2@" + DOMAIN) + MESSAGE
    assert not os.path.exists(os.path.join(li.inst.mail, "postel-t2"))


def test_home_mailbox(make_local, accounts):
    """home_mailbox = Maildir/ delivers into the user's home, as the user."""
    accounts.need(TEST_USERS[1])
    li = make_local({"home_mailbox": "Maildir/"})
    assert li.deliver("postel-t2@" + DOMAIN)[0][3] == "delivered to maildir"
    pw = accounts.get("postel-t2")
    (f,) = maildir_messages(os.path.join(pw.pw_dir, "Maildir"))
    assert os.stat(f).st_uid == pw.pw_uid
    assert os.stat(os.path.join(pw.pw_dir, "Maildir")).st_uid == pw.pw_uid
