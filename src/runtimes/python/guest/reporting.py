"""What the Python worker (worker.py) reports about a call, inside the sandbox like it: the log
capture that takes a script's stdout and stderr within the limits, and the descriptions of a
script's errors (name, message, line, its own frames only). Loaded by worker.py from its folder.
"""

import json

# Captured before any script runs: a script that replaces json.dumps (people do) changes its own
# code, not the replies.
_dumps = json.dumps

USER_FILE = "script.py"
MAX_MESSAGE_CHARS = 4096
MAX_STACK_FRAMES = 50


class LogCapture:
    """sys.stdout and sys.stderr: keeps what a script prints, bounded, as lines."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, max_entries, max_bytes):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # No entry can hold more characters than max_bytes: whatever lies beyond is dropped unseen.
        self.cap = max_bytes + 1
        self.reset()

    def reset(self):
        self.parts = []
        self.kept = 0
        self.newlines = 0
        self.written = False
        self.ends_with_newline = False

    def write(self, text):
        if type(text) is not str:
            if isinstance(text, str):
                text = str.__str__(text)
            else:
                raise TypeError("write() argument must be str, not " + type(text).__name__)
        if not text:
            return 0
        self.written = True
        self.newlines += text.count("\n")
        self.ends_with_newline = text[-1] == "\n"
        if self.kept < self.cap:
            piece = text[: self.cap - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    def fileno(self):
        raise OSError("script output is captured; it has no file descriptor")

    @property
    def closed(self):
        return False

    def take(self):
        """The invocation's log entries, with a marker line when some were dropped or cut."""
        if not self.written:
            self.reset()
            return []
        text = "".join(self.parts)
        total = self.newlines + (0 if self.ends_with_newline else 1)
        lines = text.split("\n")
        if self.ends_with_newline and self.kept < self.cap and lines and lines[-1] == "":
            lines.pop()
        entries: list[str] = []
        used = 0
        cut = False
        for line in lines:
            if len(entries) >= self.max_entries or used >= self.max_bytes:
                break
            size = len(line.encode("utf-8", "surrogatepass"))
            if used + size > self.max_bytes:
                line = utf8_prefix(line, self.max_bytes - used)
                cut = True
                used = self.max_bytes
            else:
                used += size
            entries.append(line)
        dropped = max(0, total - len(entries))
        if dropped > 0 or cut:
            if dropped > 0:
                what = "%d more log entr%s dropped" % (dropped, "y" if dropped == 1 else "ies")
            else:
                what = "last entry cut"
            entries.append(
                "[logs truncated: %s; limits are %d entries and %d bytes per invocation]"
                % (what, self.max_entries, self.max_bytes)
            )
        self.reset()
        return entries


def utf8_prefix(text, limit):
    data = text.encode("utf-8", "surrogatepass")[: max(0, limit)]
    return data.decode("utf-8", "ignore")


def encode_json(value):
    """JSON as UTF-8 bytes; a lone surrogate becomes its \\uXXXX escape (valid JSON, as JS reads it)."""
    return _dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace"
    )


def bounded(text, limit=MAX_MESSAGE_CHARS):
    return text if len(text) <= limit else text[:limit] + "... (%d more characters)" % (len(text) - limit)


def safe_str(value):
    try:
        return bounded(str(value))
    except BaseException:
        return "<unprintable %s>" % type(value).__name__


def exception_name(exc):
    try:
        name = type(exc).__name__
        return name if type(name) is str else "Exception"
    except BaseException:
        return "Exception"


def describe_syntax_error(exc, lines):
    kind = exception_name(exc)
    message = safe_str(getattr(exc, "msg", None) or exc)
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "offset", None)
    error = {"kind": kind, "message": message}
    if isinstance(line, int) and line > 0:
        error["line"] = line
        text = lines[line - 1] if line <= len(lines) else ""
        diagnostics = '  File "%s", line %d\n    %s\n' % (USER_FILE, line, bounded(text.rstrip(), 500))
        if isinstance(column, int) and column > 0:
            error["column"] = column
            diagnostics += "    " + " " * max(0, column - 1) + "^\n"
        error["diagnostics"] = diagnostics + "%s: %s" % (kind, message)
    else:
        error["diagnostics"] = "%s: %s" % (kind, message)
    return error


def describe_exception(exc, script):
    """Name, message, line and a traceback of the script's own frames only."""
    name = exception_name(exc)
    message = safe_str(exc)
    frames: list[tuple[int, str]] = []
    tb = getattr(exc, "__traceback__", None)
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == USER_FILE:
            frames.append((tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    error = {"name": name, "message": message}
    line = frames[-1][0] if frames else None
    if line is None and isinstance(exc, SyntaxError) and getattr(exc, "filename", None) == USER_FILE:
        line = exc.lineno
    if isinstance(line, int):
        error["line"] = line
    out = ["Traceback (most recent call last):"]
    # None stands for the frames left out.
    shown: list[tuple[int, str] | None] = list(frames)
    if len(frames) > MAX_STACK_FRAMES:
        omitted = len(frames) - MAX_STACK_FRAMES
        shown = [*frames[:10], None, *frames[-(MAX_STACK_FRAMES - 10):]]
    else:
        omitted = 0
    for frame in shown:
        if frame is None:
            out.append("  ... %d more frames" % omitted)
            continue
        lineno, function = frame
        out.append('  File "%s", line %d, in %s' % (USER_FILE, lineno, function))
        if script is not None and 0 < lineno <= len(script.lines):
            out.append("    " + bounded(script.lines[lineno - 1].strip(), 500))
    out.append("%s: %s" % (name, message) if message else name)
    error["stack"] = "\n".join(out)
    return error
