"""Logging to stderr without costing the event loop: every line is finished where it happens and handed to a writer
thread, which writes what has gathered every few milliseconds. A request's access line is one f-string (no LogRecord,
no handler lock, no formatter); other messages go through `logging` as usual and then through the same writer, so
lines keep their order. A stderr nobody reads blocks the writer thread, never the server: past MAX_PENDING lines
waiting, new ones are counted and reported once there is room."""
from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import time
from collections import deque
from datetime import datetime, timezone

ACCESS = "mockserver.access"
MAX_PENDING = 100_000  # lines waiting for the writer thread (about 10 MB); past it lines are counted, not kept
INTERVAL = 0.02  # seconds between two writes
MILLIS = [f",{n:03d}" for n in range(1000)]  # the milliseconds of a text line's time


class Writer:
    """Lines from any thread, written to `stream` by one thread of its own, in batches. Adding a line is one append
    to a deque (atomic, no lock); the thread takes what has gathered every INTERVAL seconds."""

    def __init__(self, stream, formatter: logging.Formatter):
        self.stream, self.formatter = stream, formatter  # the formatter writes the writer's own warning
        self.lines: deque[str] = deque()
        self.lost = 0  # lines not kept since the last report (only the adding side counts up)
        self._reported = 0
        self._writing = threading.Lock()  # one batch at a time, in order
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="mockserver-log", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        if len(self.lines) < MAX_PENDING:
            self.lines.append(line)
        else:
            self.lost += 1

    def _take(self) -> str:
        lines, take = [], self.lines.popleft
        try:
            while True:
                lines.append(take())
        except IndexError:
            pass
        lost, self._reported = self.lost - self._reported, self.lost
        if lost:
            record = logging.LogRecord("mockserver", logging.WARNING, __file__, 0, "%s log lines were lost: stderr is not being "
                                       "read fast enough", (f"{lost:,}",), None)
            lines.append(self.formatter.format(record) + "\n")
        return "".join(lines)

    def _run(self) -> None:
        while not self._closed:
            time.sleep(INTERVAL)  # lines gather meanwhile: one write for many
            self.flush()

    def flush(self) -> None:
        """Write what is waiting now, from the calling thread."""
        with self._writing:
            self._write(self._take())

    def _write(self, text: str) -> None:
        if text:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed: nothing more can be said
                pass

    def close(self) -> None:
        """Write everything still waiting (at shutdown, and at exit whatever the cause)."""
        self._closed = True
        self._thread.join(timeout=5)
        self.flush()


def iso_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a request line also carries its fields (method, path, status, ...)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": iso_time(record.created), "level": record.levelname.lower(), "logger": record.name,
                "message": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class Repeats(logging.Filter):
    """A flood is one line: a message of the same kind (logger and text before its values) within `window` seconds of
    the last one shown is counted, not written, and the next one shown says how many there were."""

    def __init__(self, window: float = 10.0):
        super().__init__()
        self.window = window
        self.shown: dict[tuple, tuple[float, int]] = {}  # kind -> (when one was last shown, how many since)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.msg if isinstance(record.msg, str) else type(record.msg).__name__)
        last, held = self.shown.get(kind, (0.0, 0))
        if record.created - last < self.window:
            self.shown[kind] = (last, held + 1)
            return False
        if held:
            record.msg = f"{record.msg} (and {held:,} more like it in the last {record.created - last:.0f} s)"
        if len(self.shown) > 1000:
            self.shown.clear()
        self.shown[kind] = (record.created, 0)
        return True


class _Handler(logging.Handler):
    """Formats a record and hands the line to the writer (no lock: the writer has its own)."""

    def __init__(self, writer: Writer, formatter: logging.Formatter):
        super().__init__()
        self.writer = writer
        self.setFormatter(formatter)
        self.addFilter(Repeats())

    def createLock(self) -> None:
        self.lock = None

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filter(record):
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.put(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class AccessLog:
    """One line per API request, in the text or JSON format, straight to the writer; None when --quiet."""

    def __init__(self, writer: Writer, log_format: str):
        self.writer, self.json = writer, log_format == "json"
        self._second, self._prefix = -1, ""  # the text format's time, to the second, formatted once a second

    def line(self, moment: float, method: str, path: str, status, fault, duration_ms: float, env, request_id: str) -> None:
        message = _message(method, path, status, fault, duration_ms, env, request_id)
        if self.json:
            self.writer.put(json.dumps({"time": iso_time(moment), "level": "info", "logger": ACCESS, "message": message,
                                        "method": method, "path": path, "status": status, "fault": fault,
                                        "duration_ms": duration_ms, "env": env, "request_id": request_id}) + "\n")
            return
        # the time as logging's asctime writes it (2026-11-24 10:00:00,123, local time)
        second, millis = divmod(int(moment * 1000), 1000)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self.writer.put(f"{self._prefix}{MILLIS[millis]} INFO {ACCESS}: {message}\n")


def _message(method: str, path: str, status, fault, duration_ms: float, env, request_id: str) -> str:
    """An access line's text: method, path, status (or fault), duration, environment, request id."""
    return f"{method} {path} {fault or status} {duration_ms:.1f}ms env={env} {request_id}"


class _Fallback:
    """Where access lines go when the server runs without configure() (an app made in a test): `logging`."""

    @staticmethod
    def line(moment, method, path, status, fault, duration_ms, env, request_id) -> None:
        logger = logging.getLogger(ACCESS)
        if logger.isEnabledFor(logging.INFO):
            fields = {"method": method, "path": path, "status": status, "fault": fault, "duration_ms": duration_ms, "env": env,
                      "request_id": request_id}
            logger.info("%s", _message(method, path, status, fault, duration_ms, env, request_id), extra={"fields": fields})


access: AccessLog | _Fallback | None = _Fallback()
writer: Writer | None = None


def flush() -> None:
    """Everything logged so far written out (before the ready line, so it follows the start-up summary)."""
    if writer is not None:
        writer.flush()


def configure(log_format: str, quiet: bool, stream=None) -> Writer:
    """Logs go to stderr (stdout has only the ready line); --quiet keeps warnings and errors only and drops the access
    lines; floods are counted."""
    global access, writer
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    writer = Writer(stream or sys.stderr, formatter)
    atexit.register(writer.close)
    root = logging.getLogger()
    root.handlers[:] = [_Handler(writer, formatter)]
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    access = None if quiet else AccessLog(writer, log_format)
    return writer
