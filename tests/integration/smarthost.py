"""A recording SMTP server for the test internet (aiosmtpd, Debian's python3-aiosmtpd).

    /usr/bin/python3 smarthost.py CONFIG.json

CONFIG (written by testnet.Smarthost):
    host, port         where to listen
    tls                null, "starttls" (offered; AUTH only after it) or "implicit"
    cert, key          the server certificate for TLS
    users              {"login": "password"}: AUTH PLAIN and LOGIN against these
    require_auth       MAIL before a successful AUTH gets 530
    hostname           the name in the greeting and the EHLO reply
    replies            {"MAIL <addr>" | "RCPT <addr>" | "DATA" | "RCPT *": "550 5.1.1 text"}
                       replies instead of success (addresses compared in lower case)
    record             the file of events: one JSON object a line

Events ("event" field): "connect" (peer), "auth" (mechanism, login, password,
success), "message" (peer, helo, mail_from, mail_options, rcpt_tos,
rcpt_options, data_hex: the content after dot-unstuffing, auth: the
successful credentials or null, tls: version, cipher and bits or null). A
message is written to the file, and flushed, before its 250 reply is sent.
Runs until SIGTERM.
"""

import asyncio
import json
import logging
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    """The event file."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8")

    def write(self, event, **fields):
        fields["event"] = event
        self.f.write(json.dumps(fields, sort_keys=True) + "\n")
        self.f.flush()


def tls_info(server):
    """version, cipher, bits of the connection's TLS, or None."""
    transport = server.transport
    obj = transport.get_extra_info("ssl_object") if transport is not None else None
    if obj is None:
        return None
    cipher = obj.cipher()
    return {"version": obj.version(), "cipher": cipher[0] if cipher else None,
            "bits": cipher[2] if cipher else None}


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


class Handler:
    """aiosmtpd hooks: replies from the configuration, every message recorded."""

    def __init__(self, config, recorder):
        self.replies = {k.lower(): v for k, v in config.get("replies", {}).items()}
        self.recorder = recorder

    def reply(self, key):
        return self.replies.get(key.lower())

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        r = self.reply("MAIL %s" % address)
        if r:
            return r
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        r = self.reply("RCPT %s" % address) or self.reply("RCPT *")
        if r:
            return r
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(list(rcpt_options))
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        r = self.reply("DATA")
        if r:
            return r
        auth = None
        if session.authenticated and isinstance(session.auth_data, dict):
            auth = session.auth_data
        content = envelope.original_content if envelope.original_content is not None \
            else envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        self.recorder.write("message", peer=list(session.peer[:2]), helo=session.host_name,
                            mail_from=envelope.mail_from, mail_options=envelope.mail_options,
                            rcpt_tos=envelope.rcpt_tos, rcpt_options=envelope.rcpt_options,
                            data_hex=content.hex(), auth=auth, tls=tls_info(server))
        return "250 2.0.0 Ok: queued"


class RecordingSMTP(SMTP):
    """aiosmtpd's SMTP that records each new connection and offers AUTH only with users."""

    recorder = None
    offer_auth = True

    async def push(self, status):
        if not self.offer_auth and status.startswith("250-AUTH"):
            return
        await super().push(status)

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.recorder.write("connect", peer=list(self.session.peer[:2]))


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    recorder = Recorder(config["record"])
    RecordingSMTP.recorder = recorder
    users = config.get("users") or {}

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = password = None
        if isinstance(auth_data, LoginPassword):
            login, password = text(auth_data.login), text(auth_data.password)
        ok = login is not None and users.get(login) == password
        recorder.write("auth", mechanism=mechanism, login=login, password=password,
                       success=ok, tls=tls_info(server))
        if not ok:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data={"mechanism": mechanism, "login": login,
                                                   "password": password})

    tls = config.get("tls")
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(config["cert"], config["key"])
    handler = Handler(config, recorder)
    kwargs = {
        "hostname": config.get("hostname") or "smarthost.test",
        "enable_SMTPUTF8": True,
        "decode_data": False,
        "auth_required": bool(config.get("require_auth")),
        # With implicit TLS the whole session is encrypted; aiosmtpd only knows STARTTLS.
        "auth_require_tls": tls == "starttls",
        "authenticator": authenticator if users else None,
        "timeout": 60,
    }
    if tls == "starttls":
        kwargs["tls_context"] = context
    RecordingSMTP.offer_auth = bool(users)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return RecordingSMTP(handler, loop=loop, **kwargs)
    server = loop.run_until_complete(loop.create_server(
        factory, host=config["host"], port=int(config["port"]),
        ssl=context if tls == "implicit" else None, reuse_address=True))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    logging.info("listening on %s port %s (tls %s)", config["host"], config["port"], tls)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


if __name__ == "__main__":
    main()
