"""A test internet: addresses, DNS and peer mail servers inside a network namespace.

    from testnet import testnet_fixture   # registers the "testnet" fixture

    def test_something(testnet, build_dir):
        net = testnet                                   # a TestNet, stopped at teardown
        mx = net.add_host("mx1.example.test", v4="192.0.2.10", v6="2001:db8::10")
        net.zone("example.test").mx(10, "mx1.example.test").txt("v=spf1 -all")
        net.zone("nullmx.test").mx(0, ".")
        net.start_dns()                                 # nsd + /etc/resolv.conf
        sink = net.smtp_sink(mx)                        # Postfix's smtp-sink on mx:25
        hub = net.aiosmtpd_smarthost("192.0.2.30", 587, tls="starttls",
                                     auth={"user": "secret"}, require_auth=True)
        pf = net.postfix_peer("192.0.2.40", domain="remote.test")
        pel = net.postel(build_dir, "192.0.2.50", domain="postel.test")

The network. TestNet needs root. It works in the network and mount
namespaces of the calling process, which must be private: ./runtests runs
every test file in its own (unshare --net --mount); when the process still
shares them with PID 1 (pytest started by hand), TestNet unshares them
itself first (it looks for an ancestor process in other namespaces), so
the host's interfaces and files are never touched. It adds
one interface without a link to anywhere (a dummy device, or an ifb device
where the dummy driver is missing) that carries the documentation prefixes
192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32; only
addresses from these can be added. Every host lives in this one namespace,
so servers bind their own address. Traffic to an address in these prefixes
that no host has is dropped without an answer: a connection to it times
out, which is how a test gets an unreachable host. An added address with
no listener refuses connections at once. Outgoing connections take the
destination address as their source unless the client binds one.

DNS. nsd (Debian's) serves every zone made with zone() and answers on
192.0.2.53 and 2001:db8::53, port 53. It also serves an empty root zone,
so that a name outside the test zones gets an authoritative NXDOMAIN.
start_dns() bind-mounts a resolv.conf that names nsd (attempts:1
timeout:1) over /etc/resolv.conf, and an nsswitch.conf whose hosts line is
"files dns", so getaddrinfo and glibc's res_query ask nsd and nothing else;
stop_dns() stops the server and leaves resolv.conf, so that lookups fail
as temporary DNS failures: at once (the server's address refuses), or
after the resolver's timeout with stop_dns(unreachable=True) (its address
is gone too). start_dns() brings it back. postfix_peer() and postel()
start DNS when it is not running yet; records changed after that need
reload_dns(). One TestNet at a time in a process.

Records are one call each, and each call returns the zone so calls chain:

    z = net.zone("example.test")
    z.mx(10, "mx1.example.test")                  # owner "@" (the apex)
    z.a("x", "192.0.2.20")                        # x.example.test
    z.aaaa("x.example.test", "2001:db8::20")      # same owner, written out
    z.txt("v=spf1 ip4:192.0.2.0/24 -all")
    z.txt("v=DKIM1; k=rsa; p=MIIB...", name="sel._domainkey")   # long: split in 255s
    z.cname("www", "x.example.test")
    z.rr("_25._tcp.mx1", "TLSA", "3 1 1 abcd...")  # any type, rdata in zone-file syntax
    z.remove("x", "A")                            # drop records (owner and/or type)
    net.ptr("192.0.2.20", "x.example.test")       # reverse zones are made as needed
    net.reload_dns()                              # after changes, once DNS runs

Owner names are relative to the zone unless they end in the zone's name
(or in "."); target names (MX, CNAME, NS, PTR) are always absolute, and
"." is the root (Null MX: mx(0, ".")).

Peers. Each start waits, bounded, until the server answers; TestNet.stop()
stops every peer, then DNS, then removes the mounts and the interface.
    postfix_peer()        Debian's Postfix in a throw-away instance: receives
                          into Maildirs (virtual(8)), sends with send()
    smtp_sink()           Postfix's smtp-sink: counters, optional dump files
    aiosmtpd_smarthost()  aiosmtpd (smarthost.py): STARTTLS or implicit TLS,
                          AUTH PLAIN/LOGIN, records envelope, credentials, TLS
    postel()              a second Postel instance (instance.py) on an address
The certificates come from a throw-away CA (openssl, in the work directory):
net.ca_file, net.cert(names) -> (cert_file, key_file).

Files live in a work directory under /tmp (reachable by the unprivileged
users the peers run as; pytest's own directories are private), linked from
tmp_path/testnet, and removed by stop().
"""

import ctypes
import grp
import ipaddress
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from instance import Instance, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))

# The prefixes the test internet may use (RFC 5737, RFC 3849); nothing else is routed.
TEST_PREFIXES = tuple(ipaddress.ip_network(p) for p in
                      ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))

DNS_V4 = "192.0.2.53"
DNS_V6 = "2001:db8::53"
IFNAME = "net0"

NSD = "/usr/sbin/nsd"
SMTP_SINK = "/usr/sbin/smtp-sink"
POSTFIX = "/usr/sbin/postfix"
POSTFIX_DAEMON_DIR = "/usr/lib/postfix/sbin"
PYTHON = "/usr/bin/python3"
OPENSSL = "/usr/bin/openssl"

# Resource record types by name (RFC 1035, 3596, 2782, 6698).
RR_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
            "AAAA": 28, "SRV": 33, "TLSA": 52, "CAA": 257}
RR_NAMES = {v: k for k, v in RR_TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


try:
    import pytest
    _SkipBase = pytest.skip.Exception
except ImportError:  # used without pytest
    pytest = None
    _SkipBase = Exception


class TestNetUnavailable(_SkipBase):
    """The test internet cannot be built here (not root, a program missing). Under pytest
    it is pytest's skip exception: the test is skipped with this reason, not failed."""

    __test__ = False


# ------------------------------------------------------------------ small helpers

def _run(argv, timeout=30, check=True, **kw):
    """Run argv to completion (bounded); AssertionError with its output when it fails."""
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited with %d\nstdout: %s\nstderr: %s"
                             % (" ".join(str(a) for a in argv), r.returncode,
                                r.stdout[-2000:], r.stderr[-2000:]))
    return r


def _tail(path, lines=40):
    """The last lines of a text file, or a note that it is missing."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        return "--- %s: %s ---" % (path, e.strerror)
    return "--- %s ---\n%s" % (path, "\n".join(text.splitlines()[-lines:]))


def check_test_address(ip):
    """ip as a normalized string; ValueError unless it is in a documentation prefix."""
    addr = ipaddress.ip_address(ip)
    if not any(addr in net for net in TEST_PREFIXES):
        raise ValueError("%s is not a test address (use 192.0.2.0/24, 198.51.100.0/24, "
                         "203.0.113.0/24 or 2001:db8::/32)" % ip)
    return str(addr)


def hostport(ip, port):
    """ip:port, with brackets around an IPv6 address."""
    return "[%s]:%d" % (ip, port) if ":" in ip else "%s:%d" % (ip, port)


def _ns(pid, kind):
    return os.readlink("/proc/%s/ns/%s" % (pid, kind))


def outside_pid(kind):
    """The closest ancestor process (or PID 1) whose kind (net, mnt) namespace is not this
    process's, or None when every one that can be seen shares it."""
    mine = _ns("self", kind)
    pid = os.getppid()
    while pid > 1:
        try:
            if _ns(pid, kind) != mine:
                return pid
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
            pid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            break
    try:
        return 1 if _ns(1, kind) != mine else None
    except OSError:
        return None


def _unshare(flag):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flag) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "unshare(0x%x): %s" % (flag, os.strerror(err)))


def ensure_private_namespaces():
    """Make sure this process has network and mount namespaces of its own (root only):
    unshare them when an ancestor process shares them."""
    if outside_pid("mnt") is None:
        _unshare(0x00020000)  # CLONE_NEWNS
    # Nothing mounted here may propagate back to another namespace.
    _run(["mount", "--make-rprivate", "/"])
    if outside_pid("net") is None:
        _unshare(0x40000000)  # CLONE_NEWNET
    _run(["ip", "link", "set", "lo", "up"])


def listening(ip, port):
    """True when a TCP socket listens on ip:port (or on the wildcard address) here."""
    addr = ipaddress.ip_address(ip)
    for name, version in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            with open(name) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # TCP_LISTEN
                continue
            hexaddr, hexport = fields[1].split(":")
            if int(hexport, 16) != port:
                continue
            raw = bytes.fromhex(hexaddr)
            # /proc shows the address as 32-bit words in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            local = ipaddress.ip_address(raw)
            if local.is_unspecified or local == addr:
                return True
            if version == 6 and local.ipv4_mapped == addr:
                return True
    return False


def smtp_banner(ip, port, implicit_tls=False, timeout=5.0):
    """Connect, read the whole 220 greeting and say QUIT; returns the greeting (str)."""
    with socket.create_connection((ip, port), timeout=timeout) as raw:
        sock = raw
        if implicit_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(raw)
        data = b""
        while not re.search(rb"(^|\n)\d{3} [^\n]*\n", data):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if len(data) > 65536:
                break
        try:
            sock.sendall(b"QUIT\r\n")
            sock.recv(4096)
        except OSError:
            pass
        return data.decode(errors="replace")


def wait_banner(what, ip, port, implicit_tls=False, alive=None, timeout=20.0):
    """Wait until ip:port greets with 220; AssertionError with what() after timeout."""
    def ready():
        if alive is not None and not alive():
            raise AssertionError("%s exited\n%s" % (what() if callable(what) else what, ""))
        try:
            return smtp_banner(ip, port, implicit_tls).startswith("220")
        except (OSError, ssl.SSLError):
            return False
    return wait_for(what, ready, timeout, interval=0.05)


def _die_with_parent():
    """In a child before exec: SIGTERM when the test process dies, so that a killed test
    leaves no server behind (the kernel forgets this when the server changes its user,
    as smtp-sink -u does)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Process:
    """A server this module started in a session of its own; stop() ends it and its group."""

    def __init__(self, argv, logfile, env=None):
        self.argv = [str(a) for a in argv]
        self.logfile = logfile
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out, start_new_session=True, env=env,
                                         preexec_fn=_die_with_parent)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait (bounded), then SIGKILL to what is left of its process group."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            # Wait without reaping: while the leader is a zombie its pid (the group's id)
            # cannot be reused, so the kill below reaches only this server's processes.
            while time.monotonic() < deadline:
                if os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    break
                time.sleep(0.02)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.wait(timeout=10)


# ------------------------------------------------------------------ DNS messages

def _dns_name_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            if len(raw) > 63:
                raise ValueError("DNS label too long: %r" % label)
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def _dns_read_name(msg, off):
    """(name, offset after it) at off in msg, following compression pointers (bounded)."""
    labels = []
    end = None
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii", "backslashreplace"))
        off += n
    else:
        raise ValueError("DNS name compression loop")
    return (".".join(labels) + ".") if labels else ".", (end if end is not None else off)


def _dns_rdata_text(msg, rtype, off, rdlen):
    """The rdata of one record as text (zone-file like; TXT: the strings joined)."""
    rdata = msg[off:off + rdlen]
    if rtype == 1:
        return socket.inet_ntop(socket.AF_INET, rdata)
    if rtype == 28:
        return socket.inet_ntop(socket.AF_INET6, rdata)
    if rtype in (2, 5, 12):
        return _dns_read_name(msg, off)[0]
    if rtype == 15:
        return "%d %s" % (struct.unpack(">H", rdata[:2])[0], _dns_read_name(msg, off + 2)[0])
    if rtype == 16:
        parts, i = [], 0
        while i < len(rdata):
            n = rdata[i]
            parts.append(rdata[i + 1:i + 1 + n].decode("utf-8", "backslashreplace"))
            i += 1 + n
        return "".join(parts)
    if rtype == 6:
        mname, o = _dns_read_name(msg, off)
        rname, o = _dns_read_name(msg, o)
        return "%s %s %d %d %d %d %d" % ((mname, rname) + struct.unpack(">5I", msg[o:o + 20]))
    return rdata.hex()


def dns_parse(msg):
    """A DNS response: dict rcode (name), aa, tc, answers [(name, type, ttl, text)]."""
    qid, flags, qd, an, _, _ = struct.unpack(">6H", msg[:12])
    off = 12
    for _ in range(qd):
        off = _dns_read_name(msg, off)[1] + 4
    answers = []
    for _ in range(an):
        name, off = _dns_read_name(msg, off)
        rtype, _, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        answers.append((name, RR_NAMES.get(rtype, str(rtype)), ttl,
                        _dns_rdata_text(msg, rtype, off, rdlen)))
        off += rdlen
    return {"id": qid, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)),
            "aa": bool(flags & 0x0400), "tc": bool(flags & 0x0200), "answers": answers}


def dns_query(server, name, rtype="A", port=53, timeout=1.0):
    """Ask server directly over UDP (no resolver library); dns_parse() of the answer."""
    qid = random.randrange(65536)
    packet = (struct.pack(">6H", qid, 0x0100, 1, 0, 0, 0) + _dns_name_wire(name)
              + struct.pack(">HH", RR_TYPES[rtype.upper()], 1))
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, port))
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data = s.recv(65535)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                return dns_parse(data)


_libc_res_query = None


def res_query(name, rtype="A"):
    """Look name up through glibc's stub resolver (res_query: /etc/resolv.conf, as the
    daemons do); dns_parse() of the answer, or None when the lookup failed."""
    global _libc_res_query
    if _libc_res_query is None:
        for lib, sym in (("libc.so.6", "res_query"), ("libresolv.so.2", "__res_query")):
            try:
                fn = getattr(ctypes.CDLL(lib), sym)
            except (OSError, AttributeError):
                continue
            fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_int]
            fn.restype = ctypes.c_int
            _libc_res_query = fn
            break
        else:
            raise RuntimeError("no res_query in the C library")
    buf = ctypes.create_string_buffer(65535)
    n = _libc_res_query(name.encode(), 1, RR_TYPES[rtype.upper()], buf, len(buf))
    if n < 0:
        return None
    return dns_parse(buf.raw[:n])


# ------------------------------------------------------------------ zones

_NAME_RX = re.compile(r"^(\.|([A-Za-z0-9_*]([A-Za-z0-9_-]{0,62})?\.?)+)$")


def _check_name(name):
    if name in ("@", ".") or _NAME_RX.match(name):
        return name
    raise ValueError("bad DNS name %r" % name)


def _fqdn(name):
    """name with a trailing dot ("." stays the root)."""
    _check_name(name)
    return name if name.endswith(".") else name + "."


def _txt_rdata(text):
    """TXT rdata in zone-file syntax: quoted strings of at most 255 bytes each."""
    parts = [text] if isinstance(text, (str, bytes)) else list(text)
    out = []
    for part in parts:
        raw = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
        for chunk in chunks:
            quoted = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C)
                             else "\\%03d" % b for b in chunk)
            out.append('"%s"' % quoted)
    return " ".join(out)


class Zone:
    """One zone's records; every method that adds returns the zone, so calls chain."""

    def __init__(self, name, ttl=60):
        self.name = name.rstrip(".").lower() if name != "." else "."
        self.ttl = ttl
        self.records = []     # (owner fqdn, ttl, type, rdata text)
        self.serial = 0

    @property
    def origin(self):
        return "." if self.name == "." else self.name + "."

    def owner(self, name):
        """The absolute owner name of name given in a call on this zone."""
        if name in ("@", "", None):
            return self.origin
        _check_name(name)
        low = name.lower().rstrip(".")
        if name.endswith(".") or self.name == "." or low == self.name \
                or low.endswith("." + self.name):
            return low + "."
        return "%s.%s" % (low, self.origin) if self.name != "." else low + "."

    def rr(self, name, rtype, rdata, ttl=None):
        """Add one record: owner (relative or absolute), type, rdata in zone-file syntax."""
        rtype = rtype.upper()
        if not re.match(r"^[A-Z0-9]+$", rtype) or "\n" in str(rdata):
            raise ValueError("bad record %r %r" % (rtype, rdata))
        self.records.append((self.owner(name), ttl or self.ttl, rtype, str(rdata)))
        return self

    def a(self, name, ip, ttl=None):
        return self.rr(name, "A", str(ipaddress.IPv4Address(ip)), ttl)

    def aaaa(self, name, ip, ttl=None):
        return self.rr(name, "AAAA", str(ipaddress.IPv6Address(ip)), ttl)

    def mx(self, preference, host, name="@", ttl=None):
        return self.rr(name, "MX", "%d %s" % (int(preference), _fqdn(host)), ttl)

    def txt(self, text, name="@", ttl=None):
        """TXT: a str (split in 255-byte strings) or a list of strings."""
        return self.rr(name, "TXT", _txt_rdata(text), ttl)

    def cname(self, name, target, ttl=None):
        return self.rr(name, "CNAME", _fqdn(target), ttl)

    def ns(self, name, host, ttl=None):
        return self.rr(name, "NS", _fqdn(host), ttl)

    def ptr(self, name, host, ttl=None):
        return self.rr(name, "PTR", _fqdn(host), ttl)

    def srv(self, name, priority, weight, port, target, ttl=None):
        return self.rr(name, "SRV", "%d %d %d %s" % (priority, weight, port, _fqdn(target)),
                       ttl)

    def remove(self, name=None, rtype=None):
        """Drop the records of owner name and/or type rtype (both None: every record)."""
        owner = self.owner(name) if name is not None else None
        self.records = [r for r in self.records
                        if not ((owner is None or r[0] == owner)
                                and (rtype is None or r[2] == rtype.upper()))]
        return self

    def text(self):
        """The zone file."""
        lines = ["$ORIGIN %s" % self.origin, "$TTL %d" % self.ttl,
                 "@ IN SOA ns.testnet. hostmaster.testnet. %d 3600 600 86400 %d"
                 % (self.serial, self.ttl),
                 "@ IN NS ns.testnet."]
        for owner, ttl, rtype, rdata in self.records:
            lines.append("%s %d IN %s %s" % (owner, ttl, rtype, rdata))
        return "\n".join(lines) + "\n"


def reverse_zone_and_owner(ip):
    """(zone name, owner) of the PTR record of ip: a /24 zone for IPv4, /32 for IPv6."""
    addr = ipaddress.ip_address(ip)
    rev = addr.reverse_pointer  # 10.2.0.192.in-addr.arpa / ...8.b.d.0.1.0.0.2.ip6.arpa
    if addr.version == 4:
        owner, zone = rev.split(".", 1)
        return zone, owner
    labels = rev.split(".")
    return ".".join(labels[-10:]), ".".join(labels[:-10])  # 8 nibbles + ip6.arpa


# ------------------------------------------------------------------ the network

class TestNet:
    """The test internet of one test: see the module's documentation."""

    __test__ = False  # not a pytest test class

    # The TestNets not stopped yet (a test runner can show their logs: logs()).
    active = []

    def __init__(self, tmp_path, dns_v4=DNS_V4, dns_v6=DNS_V6, ifname=IFNAME):
        if os.geteuid() != 0:
            raise TestNetUnavailable("the test internet needs root (network namespace, "
                                     "addresses, port 53 and 25)")
        for prog in ("ip", "mount", "umount"):
            if not shutil.which(prog):
                raise TestNetUnavailable("%s is not installed" % prog)
        ensure_private_namespaces()
        self.ifname = ifname
        self.dns_v4 = check_test_address(dns_v4)
        self.dns_v6 = check_test_address(dns_v6) if dns_v6 else None
        # A directory that the unprivileged users of the peers can reach.
        self.dir = tempfile.mkdtemp(prefix="postel-testnet.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        link = os.path.join(str(tmp_path), "testnet")
        if not os.path.lexists(link):
            os.symlink(self.dir, link)
        self.dnsdir = os.path.join(self.dir, "dns")
        os.makedirs(self.dnsdir)
        self.zones = {}
        self.hosts = {}
        self.peers = []
        self.mounts = []
        self.nsd = None
        self._nsd_zones = None
        self._zone_written = {}
        self._ca = None
        self._certs = {}
        self._counter = 0
        self.zone(".")
        self._make_interface()
        self.add_address(self.dns_v4)
        if self.dns_v6:
            self.add_address(self.dns_v6)
        TestNet.active.append(self)

    # -------------------------------------------------------------- addresses

    def _make_interface(self):
        """A link-less interface for the test prefixes: dummy, or ifb without the dummy driver."""
        if _run(["ip", "link", "show", self.ifname], check=False).returncode == 0:
            _run(["ip", "link", "del", self.ifname])
        errors = []
        for kind in ("dummy", "ifb"):
            r = _run(["ip", "link", "add", self.ifname, "type", kind], check=False)
            if r.returncode == 0:
                break
            errors.append("%s: %s" % (kind, r.stderr.strip()))
        else:
            raise TestNetUnavailable("cannot add a network interface (%s)" % "; ".join(errors))
        _run(["ip", "link", "set", self.ifname, "up"])
        for prefix in TEST_PREFIXES:
            _run(["ip", "-%d" % prefix.version, "route", "add", str(prefix), "dev", self.ifname])

    def add_address(self, ip):
        """Give this namespace the test address ip (no DNS records); returns it normalized."""
        ip = check_test_address(ip)
        have = _run(["ip", "-o", "addr", "show", "dev", self.ifname]).stdout
        plen = 128 if ":" in ip else 32
        if re.search(r"\binet6? %s/%d\b" % (re.escape(ip), plen), have):
            return ip
        argv = ["ip", "addr", "add", "%s/%d" % (ip, plen), "dev", self.ifname]
        if ":" in ip:
            argv.append("nodad")  # usable at once, not tentative
        _run(argv)
        return ip

    def remove_address(self, ip):
        """Take the test address ip away: from now on it is a black hole."""
        ip = check_test_address(ip)
        _run(["ip", "addr", "del", "%s/%d" % (ip, 128 if ":" in ip else 32),
              "dev", self.ifname], check=False)

    def add_host(self, name, v4=None, v6=None, ptr=True):
        """A host: its addresses, A/AAAA records in the zone that holds name (made when
        missing: the last two labels), PTR records when ptr; returns v4 (or v6)."""
        if not v4 and not v6:
            raise ValueError("add_host %s: give v4 and/or v6" % name)
        name = name.rstrip(".").lower()
        zone = self.zone_for(name)
        if v4:
            v4 = self.add_address(v4)
            zone.a(name + ".", v4)
            if ptr:
                self.ptr(v4, name)
        if v6:
            v6 = self.add_address(v6)
            zone.aaaa(name + ".", v6)
            if ptr:
                self.ptr(v6, name)
        self.hosts[name] = (v4, v6)
        return v4 or v6

    # -------------------------------------------------------------- zones

    def zone(self, name):
        """The zone name (made empty when new: SOA and NS only)."""
        key = name.rstrip(".").lower() if name != "." else "."
        if key not in self.zones:
            _check_name(key)
            self.zones[key] = Zone(key)
        return self.zones[key]

    def zone_for(self, name):
        """The zone that holds name: the closest enclosing zone made so far, else a new
        zone of name's last two labels."""
        labels = name.rstrip(".").lower().split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.zones:
                return self.zones[candidate]
        return self.zone(".".join(labels[-2:]))

    def ptr(self, ip, name):
        """A PTR record for ip (any address; its reverse zone is made when missing)."""
        zone, owner = reverse_zone_and_owner(ip)
        self.zone(zone).ptr(owner, name)
        return self

    # -------------------------------------------------------------- DNS server

    def _write_dns(self):
        """Write the zone files that changed (serial + 1) and nsd.conf; the changed zones."""
        changed = []
        for name, zone in self.zones.items():
            fname = os.path.join(self.dnsdir, ("root" if name == "." else name) + ".zone")
            body = zone.text()
            if self._zone_written.get(name) != body:
                zone.serial += 1
                body = zone.text()
                with open(fname + ".tmp", "w") as f:
                    f.write(body)
                # A bad record fails here, naming its line, not as a zone nsd leaves out.
                r = _run(["/usr/sbin/nsd-checkzone", zone.origin, fname + ".tmp"], check=False)
                if r.returncode != 0:
                    raise ValueError("zone %s: %s%s\n%s" % (name, r.stdout, r.stderr, body))
                os.rename(fname + ".tmp", fname)
                # A new mtime for certain, even within the same second as the last write.
                self._counter += 1
                stamp = time.time() + self._counter
                os.utime(fname, (stamp, stamp))
                self._zone_written[name] = zone.text()
                changed.append(zone)
        conf = ["server:",
                "    ip-address: %s" % self.dns_v4]
        if self.dns_v6:
            conf.append("    ip-address: %s" % self.dns_v6)
        conf += ["    port: 53",
                 '    username: ""',
                 '    chroot: ""',
                 '    zonesdir: "%s"' % self.dnsdir,
                 '    pidfile: "%s/nsd.pid"' % self.dnsdir,
                 '    database: ""',
                 '    xfrdfile: "%s/xfrd.state"' % self.dnsdir,
                 '    zonelistfile: "%s/zone.list"' % self.dnsdir,
                 '    logfile: "%s/nsd.log"' % self.dnsdir,
                 "    server-count: 1",
                 "    verbosity: 2",
                 "    hide-version: yes",
                 "    refuse-any: no",
                 "remote-control:",
                 "    control-enable: no"]
        for name in self.zones:
            conf += ["zone:", '    name: "%s"' % name,
                     '    zonefile: "%s.zone"' % ("root" if name == "." else name)]
        with open(os.path.join(self.dnsdir, "nsd.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")
        return changed

    def _dns_serves(self, zones):
        """True when nsd answers the SOA of every zone with that zone's current serial."""
        for zone in zones:
            try:
                r = dns_query(self.dns_v4, zone.origin, "SOA", timeout=0.3)
            except (OSError, socket.timeout):
                return False
            soa = [a for a in r["answers"] if a[1] == "SOA"]
            if r["rcode"] != "NOERROR" or not soa or int(soa[0][3].split()[2]) != zone.serial:
                return False
        return True

    def dns_log(self, lines=40):
        return _tail(os.path.join(self.dnsdir, "nsd.log"), lines)

    def _start_nsd(self):
        if not os.access(NSD, os.X_OK):
            raise TestNetUnavailable("nsd is not installed (Debian package nsd)")
        conf = os.path.join(self.dnsdir, "nsd.conf")
        check = _run(["/usr/sbin/nsd-checkconf", conf], check=False)
        if check.returncode != 0:
            raise AssertionError("nsd-checkconf %s: %s%s" % (conf, check.stdout, check.stderr))
        self.nsd = _Process([NSD, "-d", "-c", conf], os.path.join(self.dnsdir, "nsd.out"))
        self._nsd_zones = set(self.zones)
        zones = list(self.zones.values())

        def serving():
            if not self.nsd.alive():
                raise AssertionError("nsd exited with %s\n%s\n%s" % (
                    self.nsd.proc.returncode, _tail(self.nsd.logfile), self.dns_log()))
            return self._dns_serves(zones)
        wait_for(lambda: "nsd to answer on %s\n%s" % (self.dns_v4, self.dns_log()),
                 serving, timeout=15)

    def start_dns(self):
        """Start nsd with every zone and point the resolver at it (again: reload_dns())."""
        if self.nsd is not None and self.nsd.alive():
            return self.reload_dns()
        self.add_address(self.dns_v4)
        if self.dns_v6:
            self.add_address(self.dns_v6)
        self._write_dns()
        self._start_nsd()
        self._install_resolver()
        return self

    def reload_dns(self):
        """Publish the records changed since the last start or reload; waits until nsd
        answers with them (SIGHUP; a restart when zones were added)."""
        if self.nsd is None or not self.nsd.alive():
            return self.start_dns()
        changed = self._write_dns()
        if set(self.zones) != self._nsd_zones:
            self.nsd.stop()
            self._start_nsd()
            return self
        if not changed:
            return self
        self.nsd.signal(signal.SIGHUP)
        try:
            wait_for("nsd to load the changed zones", lambda: self._dns_serves(changed),
                     timeout=5)
        except AssertionError:
            # SIGHUP missed a change (it goes by file times): start afresh.
            self.nsd.stop()
            self._start_nsd()
        return self

    def stop_dns(self, unreachable=False):
        """Stop nsd; resolv.conf stays, so lookups fail (temporarily) at once, or, when
        unreachable, after the resolver's timeout: the server's addresses go too."""
        if self.nsd is not None:
            self.nsd.stop()
            self.nsd = None
        if unreachable:
            for ip in (self.dns_v4, self.dns_v6):
                if ip:
                    self.remove_address(ip)

    def _bind_mount(self, src, target):
        real = os.path.realpath(target)
        _run(["mount", "--bind", src, real])
        self.mounts.append(real)

    def _install_resolver(self):
        """resolv.conf naming nsd, and nsswitch.conf with "hosts: files dns", bind-mounted."""
        if self.mounts:
            return
        resolv = os.path.join(self.dnsdir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("# test internet: nsd on %s\nnameserver %s\noptions attempts:1 timeout:1\n"
                    % (self.dns_v4, self.dns_v4))
        os.chmod(resolv, 0o644)
        if not os.path.exists(os.path.realpath("/etc/resolv.conf")):
            raise TestNetUnavailable("/etc/resolv.conf does not exist: nothing to mount over")
        self._bind_mount(resolv, "/etc/resolv.conf")
        try:
            with open("/etc/nsswitch.conf") as f:
                nss = f.read()
        except OSError:
            nss = None
        if nss is not None and not re.search(r"^hosts:\s*files\s+dns\s*$", nss, re.M):
            text = re.sub(r"^hosts:.*$", "hosts: files dns", nss, flags=re.M)
            if not re.search(r"^hosts:", text, re.M):
                text += "hosts: files dns\n"
            path = os.path.join(self.dnsdir, "nsswitch.conf")
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o644)
            self._bind_mount(path, "/etc/nsswitch.conf")
        # A name service cache of the host would answer instead of nsd: hide its socket.
        for d in ("/run/nscd", "/var/run/nscd"):
            real = os.path.realpath(d)
            if os.path.exists(os.path.join(real, "socket")) and real not in self.mounts:
                _run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", real])
                self.mounts.append(real)

    # -------------------------------------------------------------- certificates

    def _openssl(self, *args):
        if not os.access(OPENSSL, os.X_OK):
            raise TestNetUnavailable("openssl is not installed (Debian package openssl)")
        return _run([OPENSSL] + list(args), cwd=self.certdir)

    @property
    def certdir(self):
        path = os.path.join(self.dir, "certs")
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def ca_file(self):
        """The throw-away CA's certificate (PEM): the trust anchor of every test cert."""
        if self._ca is None:
            self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                          "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=Test internet CA",
                          "-addext", "basicConstraints=critical,CA:TRUE",
                          "-addext", "keyUsage=critical,keyCertSign,cRLSign")
            self._ca = os.path.join(self.certdir, "ca.crt")
        return self._ca

    def cert(self, *names):
        """(cert_file, key_file) for names (DNS names and/or IP addresses), signed by the
        CA; the first name is the subject's CN. Made once per set of names."""
        key = tuple(names)
        if key in self._certs:
            return self._certs[key]
        ca = self.ca_file
        self._counter += 1
        base = "cert%d" % self._counter
        sans = []
        for n in names:
            try:
                sans.append("IP:%s" % ipaddress.ip_address(n))
            except ValueError:
                sans.append("DNS:%s" % _check_name(n).rstrip("."))
        with open(os.path.join(self.certdir, base + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=%s\n" % ",".join(sans))
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", base + ".key",
                      "-out", base + ".csr", "-subj", "/CN=%s" % names[0])
        self._openssl("x509", "-req", "-in", base + ".csr", "-CA", ca, "-CAkey", "ca.key",
                      "-CAcreateserial", "-days", "30", "-out", base + ".crt",
                      "-extfile", base + ".ext")
        # Peers running as other users read the key: it protects nothing.
        for ext in (".crt", ".key"):
            os.chmod(os.path.join(self.certdir, base + ext), 0o644)
        pair = (os.path.join(self.certdir, base + ".crt"),
                os.path.join(self.certdir, base + ".key"))
        self._certs[key] = pair
        return pair

    def client_tls_context(self):
        """An ssl client context that trusts the test CA (and verifies names)."""
        return ssl.create_default_context(cafile=self.ca_file)

    # -------------------------------------------------------------- peers

    def _peer_dir(self, kind):
        self._counter += 1
        path = os.path.join(self.dir, "%s%d" % (kind, self._counter))
        os.makedirs(path)
        os.chmod(path, 0o755)
        return path

    def smtp_sink(self, ip, port=25, options=(), dump=False, hostname=None):
        """Postfix's smtp-sink on ip:port (SmtpSink); options: extra smtp-sink arguments
        (e.g. ["-r", "RCPT"]); dump: keep every message (SmtpSink.messages())."""
        peer = SmtpSink(self, ip, port, options, dump, hostname)
        self.peers.append(peer)
        return peer

    def aiosmtpd_smarthost(self, ip, port=25, tls=None, auth=None, require_auth=False,
                           hostname=None, replies=None, cert_names=None):
        """An aiosmtpd server on ip:port (Smarthost). tls: None, "starttls" or "implicit";
        auth: {"user": "password"} (PLAIN and LOGIN); require_auth: MAIL needs AUTH;
        replies: {"RCPT <addr>" | "MAIL <addr>" | "DATA": "550 5.1.1 reply"}."""
        peer = Smarthost(self, ip, port, tls, auth, require_auth, hostname, replies, cert_names)
        self.peers.append(peer)
        return peer

    def postfix_peer(self, ip, domain="remote.test", hostname=None, port=25, v6=None,
                     users=None, relayhost=None, tls=False, config=None):
        """Debian's Postfix on ip:port (PostfixPeer), final destination for domain (a name
        or a list); users: accepted local parts (default: any); relayhost: where it sends
        (default: MX lookups); tls: offer STARTTLS with a test cert; config: main.cf."""
        if self.nsd is None:
            self.start_dns()
        peer = PostfixPeer(self, ip, domain, hostname, port, v6, users, relayhost, tls,
                           config)
        self.peers.append(peer)
        return peer

    def postel(self, build_dir, ip, domain="postel.test", hostname=None, port=25,
               users=("alice", "bob", "postmaster"), config=None, master_cf=(), start=True):
        """A second Postel instance (PostelPeer) with smtpd on ip:port, qmgr, local (each
        user of domain gets a Maildir) and smtp when built; config: main.cf settings."""
        if self.nsd is None:
            self.start_dns()
        peer = PostelPeer(self, build_dir, ip, domain, hostname, port, users, config,
                          master_cf, start)
        self.peers.append(peer)
        return peer

    # -------------------------------------------------------------- teardown

    def stop(self):
        """Stop every peer and nsd, undo the mounts, remove the interface and the files."""
        if self in TestNet.active:
            TestNet.active.remove(self)
        errors = []
        for peer in reversed(self.peers):
            try:
                peer.stop()
            except Exception as e:  # keep stopping the others
                errors.append("%s: %s" % (peer, e))
        self.peers = []
        self.stop_dns()
        for target in reversed(self.mounts):
            r = _run(["umount", target], check=False)
            if r.returncode != 0:
                errors.append("umount %s: %s" % (target, r.stderr.strip()))
        self.mounts = []
        _run(["ip", "link", "del", self.ifname], check=False)
        if not os.environ.get("POSTEL_KEEP_TESTNET"):
            shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise AssertionError("test internet teardown: " + "; ".join(errors))

    def logs(self, lines=40):
        """The tails of every log (DNS and peers), for failure reports."""
        out = [self.dns_log(lines)]
        for peer in self.peers:
            out.append(peer.log_tail(lines))
        return "\n".join(out)


# ------------------------------------------------------------------ smtp-sink

class SmtpSink:
    """smtp-sink -c on ip:port: counters of sessions, QUITs and messages."""

    def __init__(self, net, ip, port, options, dump, hostname):
        if not os.access(SMTP_SINK, os.X_OK):
            raise TestNetUnavailable("smtp-sink is not installed (Debian package postfix)")
        self.ip = net.add_address(ip)
        self.port = port
        self.dir = net._peer_dir("sink")
        self.out = os.path.join(self.dir, "sink.out")
        self.dumpdir = os.path.join(self.dir, "dump") if dump else None
        argv = [SMTP_SINK, "-c", "-u", "nobody"]
        if self.dumpdir:
            os.makedirs(self.dumpdir)
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dumpdir, nobody.pw_uid, nobody.pw_gid)
            argv += ["-d", os.path.join(self.dumpdir, "%Y%m%d%H%M%S.")]
        if hostname:
            argv += ["-h", hostname]
        argv += list(options) + ["inet:" + hostport(self.ip, port), "128"]
        self.proc = _Process(argv, self.out)
        wait_for(lambda: "smtp-sink to listen on %s\n%s"
                 % (hostport(self.ip, port), self.log_tail()),
                 self._ready, timeout=10)

    def _ready(self):
        if not self.proc.alive():
            raise AssertionError("smtp-sink exited with %s\n%s"
                                 % (self.proc.proc.returncode, self.log_tail()))
        return listening(self.ip, self.port)

    def __repr__(self):
        return "smtp-sink on %s" % hostport(self.ip, self.port)

    def counts(self):
        """{"sessions": finished sessions, "quit": QUIT commands, "messages": messages}."""
        try:
            with open(self.out, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        found = re.findall(r"sess=(\d+) quit=(\d+) mesg=(\d+)", text)
        sess, quit_, mesg = (int(x) for x in found[-1]) if found else (0, 0, 0)
        return {"sessions": sess, "quit": quit_, "messages": mesg}

    def wait_counts(self, timeout=10.0, **want):
        """Wait until counts() has at least the given values (e.g. messages=3)."""
        return wait_for(lambda: "smtp-sink counts %s (now %s)" % (want, self.counts()),
                        lambda: all(self.counts()[k] >= v for k, v in want.items())
                        and self.counts(), timeout)

    def messages(self):
        """With dump=True: the messages as dicts (client, helo, mail_from, rcpt_to [list],
        data: bytes with LF line ends, as smtp-sink wrote them), in the order of their
        files' times: messages that end within the same few milliseconds (the file time's
        granularity) may come in either order."""
        if not self.dumpdir:
            raise AssertionError("smtp_sink(dump=True) keeps messages")
        out = []
        for name in sorted(os.listdir(self.dumpdir), key=lambda n: os.stat(
                os.path.join(self.dumpdir, n)).st_mtime_ns):
            with open(os.path.join(self.dumpdir, name), "rb") as f:
                raw = f.read()
            msg = {"client": None, "helo": None, "mail_from": None, "rcpt_to": []}
            lines = raw.split(b"\n")
            i = 0
            while i < len(lines):
                line = lines[i].decode(errors="replace")
                i += 1
                if line.startswith("X-Client-Addr: "):
                    msg["client"] = line[15:]
                elif line.startswith("X-Helo-Args: "):
                    msg["helo"] = line[13:]
                elif line.startswith("X-Mail-Args: "):
                    msg["mail_from"] = line[13:]
                elif line.startswith("X-Rcpt-Args: "):
                    msg["rcpt_to"].append(line[13:])
                elif line.startswith("Received: "):
                    i += 2  # its two continuation lines end smtp-sink's own headers
                    break
            body = b"\n".join(lines[i:])
            msg["data"] = body[:-1] if body.endswith(b"\n\n") else body
            out.append(msg)
        return out

    def log_tail(self, lines=20):
        return _tail(self.out, lines).replace("\r", "\n")

    def stop(self):
        self.proc.stop()


# ------------------------------------------------------------------ aiosmtpd smarthost

class Smarthost:
    """aiosmtpd (tests/integration/smarthost.py) on ip:port; what it got is in records()."""

    def __init__(self, net, ip, port, tls, auth, require_auth, hostname, replies, cert_names):
        if tls not in (None, "starttls", "implicit"):
            raise ValueError("tls must be None, 'starttls' or 'implicit'")
        r = _run([PYTHON, "-c", "import aiosmtpd"], check=False)
        if r.returncode != 0:
            raise TestNetUnavailable("aiosmtpd is not installed (Debian package "
                                     "python3-aiosmtpd)")
        self.ip = net.add_address(ip)
        self.port = port
        self.tls = tls
        self.hostname = hostname or "smarthost.test"
        self.dir = net._peer_dir("smarthost")
        self.record_file = os.path.join(self.dir, "records.jsonl")
        config = {"host": self.ip, "port": port, "tls": tls, "users": dict(auth or {}),
                  "require_auth": bool(require_auth), "hostname": self.hostname,
                  "replies": dict(replies or {}), "record": self.record_file}
        if tls:
            config["cert"], config["key"] = net.cert(*(cert_names or [self.hostname, self.ip]))
        self.config_file = os.path.join(self.dir, "config.json")
        with open(self.config_file, "w") as f:
            json.dump(config, f, indent=1)
        self.log = os.path.join(self.dir, "smarthost.log")
        self.proc = _Process([PYTHON, os.path.join(HERE, "smarthost.py"), self.config_file],
                             self.log, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        wait_banner(lambda: "aiosmtpd on %s to greet\n%s" % (hostport(self.ip, port),
                                                             self.log_tail()),
                    self.ip, port, implicit_tls=(tls == "implicit"), alive=self.proc.alive)
        self.baseline = len(self.records())  # the probe above does not count

    def __repr__(self):
        return "aiosmtpd on %s" % hostport(self.ip, self.port)

    def records(self):
        """Every event, oldest first: dicts with "event": "connect", "auth" (mechanism,
        login, password, success), "message" (see messages())."""
        try:
            with open(self.record_file, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        # The last piece has no newline yet when it is being written: not a record yet.
        return [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()][
            getattr(self, "baseline", 0):]

    def messages(self):
        """The messages: dicts mail_from, mail_options, rcpt_tos, rcpt_options, data (bytes,
        as received after dot-unstuffing), helo, peer [ip, port], auth (None or mechanism,
        login, password), tls (None or version, cipher, bits)."""
        out = []
        for r in self.records():
            if r["event"] == "message":
                r = dict(r)
                r["data"] = bytes.fromhex(r.pop("data_hex"))
                out.append(r)
        return out

    def connections(self):
        return sum(1 for r in self.records() if r["event"] == "connect")

    def auth_attempts(self):
        return [r for r in self.records() if r["event"] == "auth"]

    def wait_messages(self, count=1, timeout=15.0):
        """Wait until at least count messages arrived; returns messages()."""
        return wait_for(lambda: "%d message(s) at %s\n%s" % (count, self, self.log_tail()),
                        lambda: len(self.messages()) >= count and self.messages(), timeout)

    def log_tail(self, lines=30):
        return _tail(self.log, lines)

    def stop(self):
        self.proc.stop()


# ------------------------------------------------------------------ Postfix

POSTFIX_MASTER_CF = """\
# master.cf of a test peer: everything unchrooted, logs through postlogd
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# Postfix's queue directories: name, mode, group ("postdrop" or the owner's).
QUEUE_DIRS = [(d, 0o700, None) for d in ("active", "bounce", "corrupt", "defer", "deferred",
                                          "flush", "hold", "incoming", "private", "saved",
                                          "trace")] + [
    ("maildrop", 0o730, "postdrop"), ("public", 0o710, "postdrop"), ("pid", 0o755, None)]

# The trace headers Postfix puts before a message it delivers.
_TRACE_RX = re.compile(rb"^(Return-Path|X-Original-To|Delivered-To|Received):", re.I)


def strip_trace_headers(raw):
    """raw (a delivered message) without the Return-Path, X-Original-To, Delivered-To
    headers and the one Received header (with its continuation lines) that the final
    delivery put on top."""
    lines = raw.split(b"\n")
    i = 0
    received = False
    while i < len(lines):
        m = _TRACE_RX.match(lines[i])
        if not m:
            break
        if m.group(1).lower() == b"received":
            if received:
                break
            received = True
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


class Delivered:
    """One message in a Maildir: path, raw bytes, and the message as it arrived."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.raw = f.read()

    @property
    def original(self):
        """raw without the trace headers of the final delivery (strip_trace_headers)."""
        return strip_trace_headers(self.raw)

    def header(self, name):
        """The first value of header name (unfolded, str), or None."""
        head = self.raw.split(b"\n\n", 1)[0].decode(errors="replace")
        m = re.search(r"^%s:[ \t]*(.*(?:\n[ \t].*)*)" % re.escape(name), head, re.M | re.I)
        return re.sub(r"\n[ \t]+", " ", m.group(1)) if m else None

    def __repr__(self):
        return "<Delivered %s>" % self.path


def maildir_messages(maildir):
    """Delivered messages in maildir/new and maildir/cur, oldest first."""
    paths = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            paths += [os.path.join(d, n) for n in os.listdir(d) if not n.startswith(".")]
    paths.sort(key=lambda p: (os.stat(p).st_mtime_ns, p))
    return [Delivered(p) for p in paths]


class PostfixPeer:
    """A throw-away Postfix (postfix -c DIR) on ip:port, with its own queue and logs."""

    def __init__(self, net, ip, domain, hostname, port, v6, users, relayhost, tls, config):
        if not os.access(POSTFIX, os.X_OK) or not os.path.isdir(POSTFIX_DAEMON_DIR):
            raise TestNetUnavailable("Postfix is not installed (Debian package postfix)")
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            raise TestNetUnavailable("the postfix account is missing (Debian package postfix)")
        self.net = net
        self.ip = net.add_address(ip)
        self.v6 = net.add_address(v6) if v6 else None
        self.port = port
        self.domains = [domain] if isinstance(domain, str) else list(domain)
        self.hostname = hostname or "mx.%s" % self.domains[0]
        self.dir = net._peer_dir("postfix")
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.mail = os.path.join(self.dir, "mail")
        self.logdir = os.path.join(self.dir, "log")
        self.maillog = os.path.join(self.logdir, "maillog")
        for d in (self.etc, self.spool, self.data, self.logdir):
            os.makedirs(d)
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.mail)
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        postfix_uid = pwd.getpwnam("postfix")
        os.chown(self.data, postfix_uid.pw_uid, postfix_uid.pw_gid)

        # Mailboxes: domain/user/ (a Maildir) under mail/, for the listed users or anyone.
        if users is None:
            vmaps = os.path.join(self.etc, "vmailbox.regexp")
            with open(vmaps, "w") as f:
                f.write("/^([A-Za-z0-9_+=-][A-Za-z0-9_.+=-]*)@([A-Za-z0-9][A-Za-z0-9.-]*)$/"
                        "\t${2}/${1}/\n")
            vmaps = "regexp:" + vmaps
        else:
            vmaps = os.path.join(self.etc, "vmailbox")
            with open(vmaps, "w") as f:
                for d in self.domains:
                    for u in users:
                        f.write("%s@%s\t%s/%s/\n" % (u, d, d, u))
            vmaps = "texthash:" + vmaps
        ips4 = [a for a in (self.ip, self.v6) if a and ":" not in a]
        ips6 = [a for a in (self.ip, self.v6) if a and ":" in a]
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": self.data,
            "command_directory": "/usr/sbin",
            "daemon_directory": POSTFIX_DAEMON_DIR,
            "meta_directory": "/etc/postfix",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": self.domains[0],
            "myorigin": "$mydomain",
            "mydestination": "",
            "inet_interfaces": ", ".join(ips4 + ips6),
            "inet_protocols": ", ".join((["ipv4"] if ips4 else []) + (["ipv6"] if ips6 else [])),
            "mynetworks": "127.0.0.0/8 [::1]/128 " + " ".join(
                str(p) if p.version == 4 else "[%s]/%d" % (p.network_address, p.prefixlen)
                for p in TEST_PREFIXES),
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "virtual_mailbox_domains": ", ".join(self.domains),
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": vmaps,
            "virtual_uid_maps": "static:%d" % nobody.pw_uid,
            "virtual_gid_maps": "static:%d" % nobody.pw_gid,
            "alias_maps": "",
            "alias_database": "",
            "local_header_rewrite_clients": "",
            "append_dot_mydomain": "no",
            "biff": "no",
            "smtputf8_enable": "yes",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "0h",
            "smtp_connect_timeout": "5s",
            "smtpd_banner": "$myhostname ESMTP Postfix",
            "relayhost": relayhost or "",
            "smtp_tls_security_level": "may",
            "smtp_tls_CAfile": net.ca_file,
            "smtp_tls_loglevel": "1",
        }
        if ips4:
            settings["smtp_bind_address"] = ips4[0]
        if ips6:
            settings["smtp_bind_address6"] = ips6[0]
        if tls:
            cert, key = net.cert(self.hostname, *(ips4 + ips6))
            settings.update({"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
                             "smtpd_tls_security_level": "may", "smtpd_tls_loglevel": "1",
                             "smtpd_tls_received_header": "yes"})
        settings.update({k: str(v) for k, v in (config or {}).items()})
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(listen="%-9s" % port))
        self._age_config()
        self.start()

    def _age_config(self):
        """Date the files in etc/ back: Postfix waits until a table or main.cf it reads
        is two seconds old (it might still be being written)."""
        past = time.time() - 60
        for name in os.listdir(self.etc):
            os.utime(os.path.join(self.etc, name), (past, past))

    def __repr__(self):
        return "Postfix on %s" % hostport(self.ip, self.port)

    def postfix(self, *args, timeout=60, check=True):
        """Run postfix -c etc args (Debian's, by path)."""
        return _run([POSTFIX, "-c", self.etc] + list(args), timeout=timeout, check=check)

    def postconf(self, *args):
        return _run(["/usr/sbin/postconf", "-c", self.etc] + list(args))

    def start(self):
        # The queue directories as Postfix's post-install makes them (postfix-files);
        # with the quick-start file "postfix start" skips its checks, which run dozens of
        # postconf commands (seconds on a busy machine).
        pf = pwd.getpwnam("postfix")
        postdrop = grp.getgrnam("postdrop").gr_gid
        for name, mode, gid in QUEUE_DIRS:
            path = os.path.join(self.spool, name)
            os.makedirs(path, exist_ok=True)
            os.chown(path, 0 if name == "pid" else pf.pw_uid,
                     postdrop if gid == "postdrop" else (0 if name == "pid" else pf.pw_gid))
            os.chmod(path, mode)
        open(os.path.join(self.spool, "quick-start"), "w").close()
        # Output to a file, not a pipe: nothing of the daemon may hold our pipe open.
        out = os.path.join(self.logdir, "postfix.out")
        with open(out, "ab") as f:
            r = subprocess.run([POSTFIX, "-c", self.etc, "start"], stdin=subprocess.DEVNULL,
                               stdout=f, stderr=f, timeout=60)
        if r.returncode != 0:
            raise AssertionError("postfix -c %s start exited with %d\n%s\n%s"
                                 % (self.etc, r.returncode, _tail(out), self.log_tail()))
        self.master_pid = self.pid()
        wait_banner(lambda: "Postfix on %s to greet\n%s"
                    % (hostport(self.ip, self.port), self.log_tail()), self.ip, self.port)

    def pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def reload(self):
        """Apply main.cf changes made with set()."""
        self.postfix("reload")

    def set(self, **settings):
        """postconf -e name=value... (then reload())."""
        self.postconf("-e", *("%s=%s" % kv for kv in settings.items()))
        self._age_config()

    def send(self, sender, recipients, message, timeout=30):
        """Hand a message to this Postfix over SMTP (it relays it: MX lookup, or relayhost)."""
        import smtplib
        with smtplib.SMTP(self.ip, self.port, timeout=timeout) as s:
            s.ehlo("client.test")
            return s.sendmail(sender, recipients, message)

    def flush(self):
        """postqueue -f: try the deferred mail now."""
        _run(["/usr/sbin/postqueue", "-c", self.etc, "-f"])

    def queue(self):
        """postqueue -j: the queued messages (dicts, Postfix's JSON)."""
        out = _run(["/usr/sbin/postqueue", "-c", self.etc, "-j"]).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def maildir(self, address):
        """The Maildir of address (user@domain)."""
        user, domain = address.rsplit("@", 1)
        return os.path.join(self.mail, domain.lower(), user.lower())

    def messages(self, address):
        """The messages delivered to address, oldest first (Delivered objects)."""
        return maildir_messages(self.maildir(address))

    def wait_messages(self, address, count=1, timeout=20.0):
        return wait_for(lambda: "%d message(s) for %s at %s\n%s"
                        % (count, address, self, self.log_tail()),
                        lambda: len(self.messages(address)) >= count
                        and self.messages(address), timeout)

    def log_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=20.0):
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: "Postfix log line /%s/\n%s" % (pattern, self.log_tail()),
                        lambda: rx.search(self.log_text()), timeout)

    def log_tail(self, lines=40):
        return _tail(self.maillog, lines)

    def stop(self, timeout=20.0):
        """postfix stop (bounded); then kill what is left of the master's process group."""
        pid = self.pid() or getattr(self, "master_pid", None)
        try:
            self.postfix("stop", timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            pass
        if pid is None:
            return
        # master made itself a session (and process group) leader: its group is this peer.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._group(pid):
            time.sleep(0.05)
        for p in self._group(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass

    @staticmethod
    def _group(pgid):
        """The live Postfix processes (programs in its daemon directory) of group pgid."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid or fields[0] in ("Z", "X"):
                continue
            try:
                exe = os.readlink("/proc/%s/exe" % entry)
            except OSError:
                continue
            if exe.startswith(POSTFIX_DAEMON_DIR + "/"):
                pids.append(int(entry))
        return pids


# ------------------------------------------------------------------ a second Postel

class PostelPeer:
    """A Postel instance (instance.Instance) on ip:port: smtpd, qmgr, local into Maildirs
    (mail/<user>/ for every user of domain), and smtp when it is built."""

    def __init__(self, net, build_dir, ip, domain, hostname, port, users, config, master_cf,
                 start):
        for rel in ("master/master", "smtpd/smtpd", "qmgr/qmgr", "local/local",
                    "tools/postalias"):
            if not os.access(os.path.join(str(build_dir), rel), os.X_OK):
                raise TestNetUnavailable("%s is not built" % rel)
        self.ip = net.add_address(ip)
        self.port = port
        self.domain = domain
        self.hostname = hostname or "mail.%s" % domain
        self.dir = net._peer_dir("postel")
        self.vmail = os.path.join(self.dir, "vmail")
        os.makedirs(self.vmail)
        os.chmod(self.vmail, 0o1777)
        users = [u.lower() for u in users]
        daemons = ["master", "smtpd", "qmgr", "local", "smtp"]
        lines = ["%s inet n - n - - smtpd" % hostport(self.ip, port),
                 "qmgr unix n - n 300 1 qmgr",
                 "local unix - n n - - local"]
        if os.access(os.path.join(str(build_dir), "smtp/smtp"), os.X_OK):
            lines.append("smtp unix - - n - - smtp")
        lines += list(master_cf)
        settings = {
            "myhostname": self.hostname,
            "mydomain": domain,
            "myorigin": "$mydomain",
            "mydestination": "$myhostname, $mydomain",
            "inet_interfaces": self.ip,
            "inet_protocols": "ipv6" if ":" in self.ip else "ipv4",
            "mynetworks": "127.0.0.0/8 %s" % ("[%s]/128" % self.ip if ":" in self.ip
                                              else "%s/32" % self.ip),
            "local_mailbox_maps": "inline:{ %s }" % ", ".join(
                "%s=%s/%s/" % (u, self.vmail, u) for u in users),
            "local_recipient_maps": "inline:{ %s }" % ", ".join("%s=ok" % u for u in users),
            "recipient_delimiter": "+",
        }
        settings.update({k: str(v) for k, v in (config or {}).items()})
        self.inst = Instance(self.dir, build_dir, name="inst", config=settings,
                             daemons=daemons, master_cf=lines)
        settings.setdefault("mail_spool_directory", self.inst.mail + "/")
        self.inst.set_config(mail_spool_directory=settings["mail_spool_directory"])
        os.chmod(self.inst.mail, 0o1777)
        self.inst.run_tool("postalias", os.path.join(self.inst.etc, "aliases"), check=True)
        if start:
            self.start()

    def __repr__(self):
        return "Postel on %s" % hostport(self.ip, self.port)

    def start(self):
        self.inst.start()
        wait_banner(lambda: "Postel on %s to greet\n%s"
                    % (hostport(self.ip, self.port), self.inst.log_tail()),
                    self.ip, self.port)

    def maildir(self, user):
        return os.path.join(self.vmail, user.lower())

    def messages(self, user):
        """The messages delivered to user (local part), oldest first (Delivered objects)."""
        return maildir_messages(self.maildir(user))

    def wait_messages(self, user, count=1, timeout=20.0):
        return wait_for(lambda: "%d message(s) for %s at %s\n%s"
                        % (count, user, self, self.inst.log_tail()),
                        lambda: len(self.messages(user)) >= count and self.messages(user),
                        timeout)

    def log_tail(self, lines=40):
        return self.inst.log_tail(lines)

    def stop(self):
        self.inst.stop()


# ------------------------------------------------------------------ pytest

if pytest is not None:
    @pytest.fixture(name="testnet")
    def testnet_fixture(tmp_path):
        """A TestNet for the test (skipped when it cannot be built: not root, no nsd...);
        stopped at teardown whatever happened."""
        net = TestNet(tmp_path)
        yield net
        net.stop()
