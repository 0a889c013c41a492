"""``empathy-task serve --sheets DIR --db FILE``: the rating web app under waitress."""

from __future__ import annotations

import argparse
import os

HELP = (
    "Run the rating web app of a human study (needs the `study` extra: flask, waitress) over "
    "sheets written by `empathy-task sheets`, storing every answer in an SQLite database. Raters "
    "open / (Prolific can pass ?PROLIFIC_PID=...); the researcher opens /admin with the token."
)
ADMIN_TOKEN_ENV = "EMPATHY_TASK_ADMIN_TOKEN"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sheets", required=True, help="folder of rating sheets")
    parser.add_argument("--db", required=True, help="SQLite database (made if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    parser.add_argument(
        "--completion-code",
        help="the code shown after submit (from the platform; default: a random one is printed)",
    )
    parser.add_argument(
        "--pay", default="2.25 EUR for about 10 minutes", help="pay text on the information page"
    )
    parser.add_argument(
        "--timeout-minutes",
        type=float,
        default=60.0,
        help="release a batch idle this long (default 60)",
    )
    parser.add_argument(
        "--raters-per-sheet",
        type=int,
        default=1,
        help="raters per batch before the study is full (default 1, as in the study)",
    )
    parser.add_argument(
        "--admin-token",
        help=f"token for /admin (default: ${ADMIN_TOKEN_ENV}, else a random one is printed)",
    )
    parser.add_argument("--title", default="How empathetic is this response?", help="page title")
    parser.add_argument(
        "--secure-cookies", action="store_true", help="send cookies over HTTPS only (behind TLS)"
    )
    who = parser.add_argument_group("who may start a batch (docs/human_study.md, security model)")
    who.add_argument(
        "--prolific-study-id",
        metavar="STUDY_ID",
        help="start only from Prolific's link of this study (PROLIFIC_PID, STUDY_ID, SESSION_ID "
        "in the URL); a batch resumes in another browser only with the same SESSION_ID",
    )
    who.add_argument(
        "--require-signed-links",
        action="store_true",
        help="start only from the signed, expiring links of `empathy-task links` (same --db)",
    )
    who.add_argument(
        "--claims-per-address",
        type=int,
        default=3,
        help="active batches one client address (IPv4, or IPv6 /64) may hold at once; more are "
        "429 (default 3; 0 = no limit)",
    )
    who.add_argument(
        "--batches-per-address",
        type=int,
        default=5,
        help="batches (in progress, submitted or voided) one client address (IPv4, or IPv6 /64) "
        "may start over the whole study; more are 429 (default 5; 0 = no limit)",
    )
    who.add_argument(
        "--batches-per-subnet",
        type=int,
        default=20,
        help="the same for an IPv4 /24 or IPv6 /48 (default 20; 0 = no limit)",
    )
    who.add_argument(
        "--trusted-proxies",
        type=int,
        default=0,
        help="reverse proxies of yours in front that append X-Forwarded-For (default 0: the "
        "header is ignored and every client is the address it connects from); waitress then "
        "takes the client address from the header, only on connections from "
        "--trusted-proxy-address",
    )
    who.add_argument(
        "--trusted-proxy-address",
        default="127.0.0.1",
        help="the address your (nearest) proxy connects from (default 127.0.0.1; '::1' for a "
        "proxy on IPv6 loopback)",
    )
    who.add_argument(
        "--admin-session-minutes",
        type=float,
        default=240.0,
        help="an admin login lasts this long (default 240); a restart ends every admin session",
    )
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    # Waitress' own defaults (100 connections, 120 s idle, 1 GiB bodies read in full) suit no
    # crowd study: a form post is a few KB, and a stalled client should not hold a channel.
    parser.add_argument(
        "--connection-limit", type=int, default=500, help="open connections (default 500)"
    )
    parser.add_argument(
        "--channel-timeout",
        type=int,
        default=30,
        help="close a connection idle this many seconds (default 30)",
    )
    parser.add_argument(
        "--max-request-body-kb",
        type=int,
        default=64,
        help="largest request body waitress reads, in KiB (default 64)",
    )
    parser.add_argument(
        "--backlog", type=int, default=1024, help="pending connections the socket queues"
    )
    # Waitress has no bound on the time a request may take to arrive, nor on connections per
    # client: a slow trickle of header bytes never counts as idle (slowloris).
    parser.add_argument(
        "--request-timeout",
        type=int,
        default=15,
        help="close a connection whose request has not fully arrived this many seconds after "
        "its first byte, or that sent nothing this long (default 15)",
    )
    parser.add_argument(
        "--connections-per-address",
        type=int,
        default=20,
        help="open connections one client address (IPv4, or IPv6 /64) may hold; more are "
        "closed at once (default 20; 0 = no limit; the trusted proxy is exempt)",
    )


def run(args: argparse.Namespace) -> int:
    import ipaddress
    import secrets

    try:
        from empathy_task.study.server import make_server
    except ImportError as e:  # the `study` extra is not installed
        raise ValueError("serve needs the study extra: pip install 'empathy-task[study]'") from e

    from empathy_task.study.app import StudySettings, create_app_from_paths
    from empathy_task.study.store import StoreError

    for name in (
        "connection_limit",
        "channel_timeout",
        "max_request_body_kb",
        "backlog",
        "request_timeout",
    ):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    try:
        # One address, never "*": a client connecting past the proxy must not pick its address.
        ipaddress.ip_address(args.trusted_proxy_address)
    except ValueError:
        raise ValueError(
            f"--trusted-proxy-address {args.trusted_proxy_address[:60]!r}: give the proxy's IP "
            "address, e.g. 127.0.0.1 or ::1"
        ) from None
    code = args.completion_code or secrets.token_hex(4).upper()
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    generated = not token
    token = token or secrets.token_urlsafe(18)
    settings = StudySettings(
        completion_code=code,
        admin_token=token,
        pay_text=args.pay,
        timeout_minutes=args.timeout_minutes,
        raters_per_sheet=args.raters_per_sheet,
        title=args.title,
        secure_cookies=args.secure_cookies,
        prolific_study_id=args.prolific_study_id,
        require_signed_links=args.require_signed_links,
        claims_per_address=args.claims_per_address,
        trusted_proxies=args.trusted_proxies,
        batches_per_address=args.batches_per_address,
        batches_per_subnet=args.batches_per_subnet,
        admin_session_minutes=args.admin_session_minutes,
        # waitress resolves X-Forwarded-For itself (below): the app must not apply it again.
        forwarded_by_server=True,
    )
    try:
        app = create_app_from_paths(args.sheets, args.db, settings)
    except StoreError as e:
        raise ValueError(str(e)) from e
    # No proxy trusted: the header is left for the app, which never uses it but warns once that
    # a proxy seems to be in front.
    proxy: dict[str, object] = {"clear_untrusted_proxy_headers": bool(args.trusted_proxies)}
    if args.trusted_proxies:
        # waitress 3 drops X-Forwarded-For before the app sees it unless it trusts the proxy.
        proxy.update(
            trusted_proxy=args.trusted_proxy_address,
            trusted_proxy_count=args.trusted_proxies,
            trusted_proxy_headers={"x-forwarded-for"},
        )
    server = make_server(
        app,
        request_timeout=args.request_timeout,
        connections_per_address=args.connections_per_address,
        host=args.host,
        port=args.port,
        threads=args.threads,
        connection_limit=args.connection_limit,
        channel_timeout=args.channel_timeout,
        # The guard's checks run in waitress's maintenance pass; run it often enough to matter.
        cleanup_interval=max(1, min(args.request_timeout // 3, 30)),
        max_request_body_size=args.max_request_body_kb * 1024,
        backlog=args.backlog,
        **proxy,
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{server.effective_port}"
    print(f"serving the rating app on {url}/ (admin: {url}/admin)", flush=True)
    if not args.completion_code:
        print(f"completion code: {code} (enter it on your crowd platform)", flush=True)
    if generated:
        print(f"admin token: {token}", flush=True)
    if args.prolific_study_id:
        print(
            f"Prolific study {args.prolific_study_id}: set the study URL on Prolific to "
            f"{url}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}"
            "&SESSION_ID={{%SESSION_ID%}} (with your public address)",
            flush=True,
        )
    if args.require_signed_links:
        print("only signed links start a batch (make them with `empathy-task links`)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
