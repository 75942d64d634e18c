"""The `mockserver` command (also `python -m mockserver`)."""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import __version__ as aiohttp_version, web
from aiohttp.web_app import CleanupError

from mockserver import __version__, logs
from mockserver.documents import DocumentError
from mockserver.server import Runner
from mockserver.files import FileProblem, check_writable
from mockserver.limits import parse_rate
from mockserver.state import StateError
from mockserver.keys import SETTINGS
from mockserver.settings import LOOPS, Settings, parse_bytes, settings_from

log = logging.getLogger("mockserver")

DEFAULTS = Settings()


def _size(text: str) -> int:
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description="Stateful mock of the Userflow and Frigade APIs.")
    parser.add_argument("--version", action="version", version=f"mockserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = commands.choices  # name -> its parser, for errors in the command's own terms
    serve = commands.add_parser("serve", help="run the server", description=(
        "Run the mock server. Every option can also be set as an environment variable MOCKSERVER_<NAME> "
        "(e.g. MOCKSERVER_PORT=0, MOCKSERVER_API_KEY=ak_a,ak_b); flags win over the environment."))
    serve.add_argument("--host", help=f"address to bind (default {DEFAULTS.host})")
    serve.add_argument("--port", type=int, help=f"port to bind; 0 picks a free port (default {DEFAULTS.port})")
    serve.add_argument("--seed", type=int, help=f"seed for the generated data (default {DEFAULTS.seed})")
    serve.add_argument("--fixtures", type=Path, metavar="PATH",
                       help="fixture file (YAML/JSON) or folder of them (default: the built-in data set)")
    serve.add_argument("--api-key", dest="api_keys", action="append", default=[], metavar="KEY",
                       help="accept only this API key (repeatable); default: any well-formed key")
    serve.add_argument("--strict", action=argparse.BooleanOptionalAction,
                       help="answer 400 to unknown body fields and query parameters instead of ignoring them")
    serve.add_argument("--log-format", choices=("text", "json"), help="log line format on stderr (default text)")
    serve.add_argument("--loop", choices=LOOPS, help="event loop: uvloop, asyncio, or auto (uvloop when installed; the default)")
    serve.add_argument("--quiet", action=argparse.BooleanOptionalAction,
                       help="log warnings and errors only: no line per request, no summary")
    serve.add_argument("--journal-size", type=int, metavar="N",
                       help=f"requests kept in the journal; the oldest are dropped first (default {DEFAULTS.journal_size})")
    serve.add_argument("--journal-bytes", type=_size, metavar="SIZE",
                       help="bytes the journal may hold (bodies are kept up to 64K each); the oldest go first (default 32M)")
    guard = serve.add_argument_group("security and shared use")
    guard.add_argument("--connection-timeout", type=float, metavar="SECONDS",
                       help=f"close a connection idle, or still sending its headers, this long; a body slower than this is a 408 "
                            f"(default {DEFAULTS.connection_timeout:g})")
    guard.add_argument("--max-connections", type=int, metavar="N",
                       help=f"past N open connections, a new one gets 503 and is closed (default {DEFAULTS.max_connections})")
    guard.add_argument("--admin-token", metavar="TOKEN",
                       help="require 'Authorization: Bearer TOKEN' on the control API /__mock/* (health excepted)")
    guard.add_argument("--cors-origin", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
                       help="browser origins the APIs answer (repeatable; '*' for any). Default: any origin for Frigade, "
                            "none for Userflow; never the control API")
    guard.add_argument("--webhook-allow", action="append", default=[], metavar="PATTERN",
                       help="accept webhook URLs matching this shell-style pattern only, e.g. 'http://127.0.0.1:*' (repeatable)")
    script = serve.add_argument_group("scenarios, recording and traffic shaping")
    script.add_argument("--scenario", dest="scenarios", action="append", default=[], type=Path, metavar="FILE",
                        help="load a scenario file (YAML or JSON) at start-up (repeatable)")
    script.add_argument("--scenario-bytes", type=_size, metavar="SIZE",
                        help="the largest scenario POST /__mock/scenarios accepts (default 256K)")
    script.add_argument("--record", type=Path, metavar="FILE",
                        help="on shutdown, write the journal as a scenario file (JSON if FILE ends in .json, else YAML)")
    script.add_argument("--rate-limit", metavar="N/SECONDS",
                        help="allow N requests per SECONDS per environment, then 429 with Retry-After (e.g. 100/60)")
    script.add_argument("--latency", dest="latency_ms", type=int, metavar="MS", help="add MS milliseconds to every API response")
    script.add_argument("--concurrency-limit", type=int, metavar="N",
                        help="answer 503 when N API requests are already in flight (default: no limit)")
    script.add_argument("--state", type=Path, metavar="FILE",
                        help="keep every environment in FILE: loaded at start, saved periodically and on shutdown")
    script.add_argument("--state-interval", type=float, metavar="SECONDS",
                        help=f"seconds between saves of --state while running (default {DEFAULTS.state_interval})")
    upstream = serve.add_argument_group("proxy mode: in front of the real service (see `mockserver drift`)")
    upstream.add_argument("--upstream", dest="upstreams", action="append", default=[], metavar="API=URL",
                          help="forward every request of API (userflow or frigade) to URL, e.g. userflow=https://api.userflow.com, "
                               "and pass its answers back, each checked against schemas/ (repeatable)")
    upstream.add_argument("--upstream-timeout", type=float, metavar="SECONDS",
                          help=f"an upstream that has not answered in full by then is a 502 (default {DEFAULTS.upstream_timeout:g})")
    upstream.add_argument("--upstream-max-bytes", type=_size, metavar="SIZE",
                          help="the largest upstream answer passed back; a larger one is a 502 (default 32M)")
    upstream.add_argument("--drift-size", type=int, metavar="N",
                          help=f"violations kept in /__mock/drift; the oldest are dropped first (default {DEFAULTS.drift_size})")
    hooks = serve.add_argument_group("webhook delivery (fast defaults suited to tests)")
    hooks.add_argument("--webhook-schedule", choices=("fast", "documented"),
                       help="fast: retries after 0.1 s, doubling, 5 attempts (Frigade 6); documented: the services' own schedule, "
                            "60 s doubling, Userflow 13 attempts over 2.8 days, Frigade 6 (default fast)")
    hooks.add_argument("--webhook-retry-delay", type=float, metavar="SECONDS",
                       help="wait before the first retry (default: the schedule's)")
    hooks.add_argument("--webhook-retry-factor", type=float, metavar="X",
                       help=f"each later wait is X times the one before (default {DEFAULTS.webhook_retry_factor})")
    hooks.add_argument("--webhook-max-attempts", type=int, metavar="N",
                       help="attempts per notification, the first included, for both APIs (default: the schedule's)")
    hooks.add_argument("--webhook-timeout", type=float, metavar="SECONDS",
                       help=f"an attempt without a response by then fails (default {DEFAULTS.webhook_timeout})")
    hooks.add_argument("--webhook-log-size", type=int, metavar="N",
                       help=f"delivery attempts kept in /__mock/webhooks (default {DEFAULTS.webhook_log_size})")
    hooks.add_argument("--webhook-log-bytes", type=_size, metavar="SIZE",
                       help="bytes of notification bodies the attempt log may hold; the oldest go first (default 16M)")
    hooks.add_argument("--webhook-queue-bytes", type=_size, metavar="SIZE",
                       help="bytes of notifications waiting to be delivered; past it new ones are dropped (default 32M)")
    hooks.add_argument("--webhook-reply-bytes", type=_size, metavar="SIZE",
                       help="bytes of a receiver's reply that are read; a longer one is cut off (default 64K)")
    hooks.add_argument("--webhook-shutdown-grace", type=float, metavar="SECONDS",
                       help=f"on shutdown, time pending deliveries get to finish (default {DEFAULTS.webhook_shutdown_grace})")
    openapi = commands.add_parser("openapi", help="print the OpenAPI 3.1 document generated from schemas/",
                                  description="Print the OpenAPI 3.1 document (JSON) generated from schemas/ and the operation tables.")
    openapi.add_argument("--api", choices=("userflow", "frigade"), help="only this API (default: both)")
    verify = commands.add_parser("verify", help="check a running server's scenarios; exit 1 with a readable diff if any is unmet",
                                 description="Ask a running mockserver whether every scenario's expectations were met: exit 0 "
                                             "when all are, 1 when any is not (or none is loaded), 2 when the server cannot be asked.")
    verify.add_argument("--scenario", metavar="NAME", help="verify only this scenario (default: every loaded scenario)")
    drift = commands.add_parser("drift", help="in proxy mode: print how the real service's answers broke schemas/; exit 1 if any",
                                description="Ask a running mockserver in proxy mode (--upstream) how its upstreams' answers broke "
                                            "schemas/: one line per violation, then a summary. Exit 0 when none did, 1 when any "
                                            "did (or no API is proxied: nothing was checked), 2 when the server cannot be asked.")
    for asking in (verify, drift):
        asking.add_argument("--url", default=os.environ.get("MOCKSERVER_URL"),
                            help="the server, e.g. http://127.0.0.1:8080 (default: MOCKSERVER_URL)")
        asking.add_argument("--admin-token", metavar="TOKEN", default=os.environ.get("MOCKSERVER_ADMIN_TOKEN"),
                            help="the server's --admin-token (default: MOCKSERVER_ADMIN_TOKEN)")
    lint = commands.add_parser("lint", help="check scenario and fixture files against their schemas",
                               description="Check scenario and fixture files (a file with `steps` is a scenario); "
                                           "each problem is printed as file:line: field: message (rule); exit 1 on any.")
    lint.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files, or folders of *.yaml, *.yml and *.json files")
    return parser


def event_loop(choice: str):
    """The loop factory: uvloop's (auto: when it is installed), else asyncio's own (None)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("mockserver: error: --loop uvloop: uvloop is not installed (pip install uvloop)") from None
        return None
    return uvloop.new_event_loop


def runtime() -> str:
    """The event loop and whether aiohttp runs its C HTTP parser, for the start-up summary."""
    from aiohttp import http_parser

    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    if loop == "uvloop":
        import uvloop
        loop = f"uvloop {uvloop.__version__}"
    parser = "C" if http_parser.HttpRequestParser.__module__.endswith("_http_parser") else "pure-Python"
    return f"event loop {loop}, aiohttp {aiohttp_version} with its {parser} HTTP parser"


def summary(app) -> str:
    """What was loaded, in one line."""
    from mockserver.keys import ENVIRONMENTS, SCENARIOS

    settings = app[SETTINGS]
    counts = ", ".join(f"{n} {what}" for what, n in app[ENVIRONMENTS].counts.items())
    parts = [f"seed {settings.seed}", f"fixtures {settings.fixtures or 'built-in'} ({counts})",
             f"scenarios: {', '.join(app[SCENARIOS].by_name) or 'none'}",
             f"keys: {', '.join(settings.api_keys) if settings.api_keys else 'any'}"]
    if settings.rate_limit:
        parts.append(f"rate limit {settings.rate_limit}/env")
    if settings.admin_token:
        parts.append("control API protected by --admin-token")
    if settings.webhook_allow:
        parts.append(f"webhook targets: {', '.join(settings.webhook_allow)}")
    if settings.state:
        parts.append(f"state {settings.state} ({len(app[ENVIRONMENTS].keys())} environments restored)")
    if settings.upstreams:
        parts.append("proxying " + ", ".join(f"{api} to {url}" for api, url in settings.upstream.items()))
    parts.append(runtime())
    return "loaded " + "; ".join(parts)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ListenError(Exception):
    """The server cannot bind its address."""


def _shutdown_problems(exc: BaseException) -> list[FileProblem]:
    """The files that could not be written while shutting down (aiohttp gathers several into a CleanupError)."""
    found = exc.args[1] if isinstance(exc, CleanupError) and len(exc.args) > 1 else [exc]
    return [e for e in found if isinstance(e, FileProblem)]


async def serve(settings: Settings) -> None:
    from mockserver.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    app = create_app(settings)
    runner = Runner(app, settings)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    port = runner.addresses[0][1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("%s", summary(app))
    if not settings.admin_token and not _loopback(settings.host):
        log.warning("listening on %s without --admin-token: anyone who can reach this port can reset every environment, "
                    "load scenarios and read the journal; pass --admin-token (or MOCKSERVER_ADMIN_TOKEN)", settings.host)
    logs.flush()
    print(f"mockserver listening on http://{host}:{port}", flush=True)
    await stop.wait()
    log.info("shutting down")
    try:
        await runner.cleanup()
    except (FileProblem, CleanupError) as exc:
        problems = _shutdown_problems(exc)
        if not problems:
            raise
        raise ShutdownFailed("; ".join(map(str, problems))) from None


class ShutdownFailed(Exception):
    """Something the server had to write on the way out (--record, --state) could not be written."""


def run_lint(paths: list[Path]) -> int:
    """Each argument is checked as --fixtures or --scenario would read it: the files of a folder are one data set."""
    from mockserver.documents import check
    from mockserver.schemas import Schemas

    schemas, failed = Schemas(), False
    for argument in paths:
        group = sorted(q for q in argument.iterdir() if q.suffix in (".yaml", ".yml", ".json")) if argument.is_dir() else [argument]
        seen_flows: dict = {}
        for path in group:
            try:
                _, problems = check(str(path), path.read_text(encoding="utf-8"), schemas, seen_flows)
            except OSError as exc:
                problems = [f"{path}: cannot read: {exc.strerror}"]
            except UnicodeDecodeError as exc:
                problems = [f"{path}: not UTF-8 text (byte {exc.start})"]
            except DocumentError as exc:
                problems = str(exc).splitlines()
            failed = failed or bool(problems)
            print("\n".join(problems) if problems else f"{path}: ok")
    return 1 if failed else 0


class CannotAsk(Exception):
    """The server could not be asked (exit 2)."""


def _control_api(url: str | None, admin_token: str | None):
    """call(method, path) -> (status, JSON object) from a running mockserver's control API; CannotAsk when there is no
    URL, or the server cannot be asked, or the answer is not a mockserver's (a status outside `statuses`)."""
    import urllib.error
    import urllib.request

    if not url:
        raise CannotAsk("which server? Pass --url URL or set MOCKSERVER_URL")
    base = url.rstrip("/")

    def call(method: str, path: str, statuses=(200, 404, 409)):
        request = urllib.request.Request(base + path, method=method,
                                         headers={"Authorization": f"Bearer {admin_token}"} if admin_token else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, kind, raw = resp.status, resp.headers.get_content_type(), resp.read()
        except urllib.error.HTTPError as err:
            status, kind, raw = err.code, err.headers.get_content_type(), err.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise CannotAsk(f"cannot reach {url}: {getattr(exc, 'reason', None) or exc}") from None
        if status == 401 and kind == "application/json":
            raise CannotAsk(f"{url} refused the admin token given" if admin_token else
                            f"{url} runs with --admin-token: pass --admin-token TOKEN or set MOCKSERVER_ADMIN_TOKEN")
        try:
            body = json.loads(raw) if kind == "application/json" else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or status not in statuses:
            raise CannotAsk(f"{url} is not a mockserver: {method} {path} answered {status} ({kind})")
        return status, body
    return call


def run_verify(url: str | None, name: str | None, admin_token: str | None = None) -> int:
    import urllib.parse

    try:
        call = _control_api(url, admin_token)
        status, listing = call("GET", "/__mock/scenarios")
        if "scenarios" not in listing:
            raise CannotAsk(f"{url} is not a mockserver: GET /__mock/scenarios answered without a list of scenarios")
        names = [name] if name else [s["name"] for s in listing["scenarios"]]
        results = [call("POST", f"/__mock/scenarios/{urllib.parse.quote(n, safe='')}/verify") for n in names]
    except CannotAsk as exc:
        print(f"mockserver verify: {exc}", file=sys.stderr)
        return 2
    if not names:
        print(f"no scenarios are loaded on {url}: nothing was verified (load them with --scenario or POST /__mock/scenarios)")
        return 1
    for _, body in results:
        print(body.get("report") or body.get("error", {}).get("message", body))
    return 0 if all(status == 200 for status, _ in results) else 1


DRIFT_FIELDS = {"upstreams", "checked", "drifted", "count", "dropped", "violations"}


def run_drift(url: str | None, admin_token: str | None = None) -> int:
    """Every violation the server found in its upstreams' answers: exit 0 when there is none, 1 when there is any or no
    API is proxied (then nothing was checked), 2 when the server cannot be asked."""
    from mockserver.proxy import report_lines

    try:
        _, report = _control_api(url, admin_token)("GET", "/__mock/drift", statuses=(200,))
        if not DRIFT_FIELDS <= report.keys():
            raise CannotAsk(f"{url} is not a mockserver: GET /__mock/drift answered without a drift report")
    except CannotAsk as exc:
        print(f"mockserver drift: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report_lines(report, url)))
    return 0 if report["upstreams"] and not report["violations"] and not report["dropped"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # told in the terms of the command that was typed, with its own usage
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "lint":
        return run_lint(args.files)
    if args.command == "openapi":
        from mockserver.openapi import build
        print(json.dumps(build(args.api), indent=2))
        return 0
    if args.command == "verify":
        return run_verify(args.url, args.scenario, args.admin_token)
    if args.command == "drift":
        return run_drift(args.url, args.admin_token)
    try:
        settings = settings_from(vars(args))
        if settings.rate_limit:
            parse_rate(settings.rate_limit)
        for option, path in (("--state", settings.state), ("--record", settings.record)):
            if path is not None:
                check_writable(path, option)
    except (ValueError, FileProblem) as exc:
        print(f"mockserver: error: {exc}", file=sys.stderr)
        return 2
    writer = logs.configure(settings.log_format, settings.quiet)
    try:
        try:
            with asyncio.Runner(loop_factory=event_loop(settings.loop)) as runner:
                runner.run(serve(settings))
        finally:
            writer.close()  # every log line out before the last word
    except (DocumentError, StateError) as exc:
        print(f"mockserver: error: {exc}", file=sys.stderr)
        return 2
    except (ListenError, ShutdownFailed) as exc:
        print(f"mockserver: error: {exc}", file=sys.stderr)
        return 1
    return 0
