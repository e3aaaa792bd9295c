"""The Python worker: runs inside the sandbox, never imported by the host.

Started as `python3 -I -S worker.py '<config JSON>'`. It sets its own resource limits before it
reads any request, then speaks newline-delimited JSON with the host: one request line in, one
reply line out, strictly in turn.

  -> {"op": "compile", "id": 1, "hash": "...", "source": "..."}       (a check only; nothing is kept)
  <- {"id": 1, "ok": true, "ms": 0.2, "form": "handle"}
   | {"id": 1, "ok": false, "error": {"kind", "message", "line", "column", "diagnostics"}}
  -> {"op": "run", "id": 2, "hash": "...", "source"?: "...", "event": {...}}
  <- {"id": 2, "s": "ok" | "error" | "memory" | "output_limit" | "not_prepared", "r"?, "e"?, "n"?, "l": [...], "m": rss}
  SIGUSR1 (the host's deadline passed) -> {"id": 2, "s": "timeout", "l": [...]}, then the worker exits.

Packages: the config's packagePaths (PYTHON_PACKAGES_DIR at /packages, Debian's dist-packages)
go on sys.path after the standard library, without `site` (no .pth file runs). A session worker
imports the config's preload modules (PYTHON_PRELOAD) once its limits and filter are in place,
before it says it is ready: a session then gets a worker that has imported numpy already. A
module that fails to import is named in the ready line (the host reports it in health); the
worker still serves, and a script importing that module gets the real error then.

One worker serves one session (the host binds it on the session's first execute and never hands
it to another), or only compiles (then no script ever runs in it), so nothing here defends one
script against another: the sandbox around the process and the host's distrust of every line it
reads are the boundary. A script can reach everything in this file (`__subclasses__`, frames,
`gc`) and forge replies; it only ever fools itself.
"""

import binascii
import builtins
import gc
import json
import os
import resource
import signal
import sys
import symtable
import time
import types

# The worker's own references: a script that replaces json.loads (people do) changes its own
# code, not the requests.
_loads = json.loads

# The worker has one thread and may have no other (RLIMIT_NPROC): numerical libraries (OpenBLAS,
# OpenMP, MKL, numexpr) read these when they load, so they are set before anything imports them.
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
for _name in THREAD_ENV:
    os.environ[_name] = "1"
# Package directories are read-only (or the operator's, without a sandbox): no .pyc is written there.
sys.dont_write_bytecode = True

# The rest of the worker, beside this file (bound beside it in the sandbox): `-I` leaves the
# script's folder off sys.path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reporting import (  # noqa: E402
    USER_FILE,
    LogCapture,
    describe_exception,
    describe_syntax_error,
    encode_json,
    exception_name,
    safe_str,
)


class Config:
    def __init__(self, raw):
        self.memory_limit_bytes = int(raw.get("memoryLimitBytes", 256 * 1024 * 1024))
        self.cpu_limit_seconds = int(raw.get("cpuLimitSeconds", 3600))
        self.max_processes = raw.get("maxProcesses")
        self.max_file_bytes = int(raw.get("maxFileBytes", 16 * 1024 * 1024))
        self.max_open_files = int(raw.get("maxOpenFiles", 64))
        self.max_log_entries = int(raw.get("maxLogEntries", 100))
        self.max_log_bytes = int(raw.get("maxLogBytes", 65536))
        self.max_result_bytes = int(raw.get("maxResultBytes", 1024 * 1024))
        self.workdir = raw.get("workdir")
        self.seccomp = raw.get("seccomp")
        self.package_paths = [str(path) for path in raw.get("packagePaths") or []]
        self.preload = [str(name) for name in raw.get("preload") or []]


def set_limits(config):
    """Hard limits the script cannot raise again (it runs unprivileged, with no capabilities)."""
    limits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, config.max_file_bytes),
        (resource.RLIMIT_NOFILE, config.max_open_files),
        (resource.RLIMIT_MSGQUEUE, 0),
    ]
    if config.max_processes is not None:
        # Counted per user namespace: the sandbox's only process is this one, so no fork, no thread.
        limits.append((resource.RLIMIT_NPROC, int(config.max_processes)))
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    # SIGXCPU at the soft limit, SIGKILL one second later: a lifetime budget of the worker.
    cpu = config.cpu_limit_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (config.memory_limit_bytes, config.memory_limit_bytes))


def install_seccomp(encoded):
    """Installs the host's filter (classic BPF, base64) on this process: see seccomp.ts."""
    import ctypes

    data = binascii.a2b_base64(encoded)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS = 38
    PR_SET_SECCOMP = 22
    SECCOMP_MODE_FILTER = 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    buffer = ctypes.create_string_buffer(data, len(data))
    program = SockFprog(len(data) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


class Script:
    __slots__ = ("hash", "code", "form", "lines")

    def __init__(self, hash_, code, form, lines):
        self.hash = hash_
        self.code = code
        self.form = form
        self.lines = lines


class Instance:
    __slots__ = ("namespace", "function", "with_context")

    def __init__(self, namespace, function=None, with_context=False):
        self.namespace = namespace
        self.function = function
        self.with_context = with_context


class CompileFailure(Exception):
    def __init__(self, error):
        Exception.__init__(self, error.get("message"))
        self.error = error


def detect_form(source):
    """What the script's module scope binds decides how it is called (see the README):
    `handler` -> handler(event); else `handle` -> handle(params); else the top-level code runs
    on every execute and its `result` global is the result."""
    top = symtable.symtable(source, USER_FILE, "exec")
    for name in ("handler", "handle"):
        try:
            symbol = top.lookup(name)
        except KeyError:
            continue
        if symbol.is_assigned() or symbol.is_imported():
            return name
    return "body"


def compile_script(hash_, source):
    lines = source.splitlines()
    try:
        code = compile(source, USER_FILE, "exec", dont_inherit=True)
        form = detect_form(source)
    except SyntaxError as exc:
        raise CompileFailure(describe_syntax_error(exc, lines))
    except MemoryError:
        raise CompileFailure({"kind": "MemoryError", "message": "the script is too large to compile within the memory limit"})
    except RecursionError as exc:
        raise CompileFailure({"kind": "RecursionError", "message": "the script nests too deeply to compile: " + safe_str(exc)})
    except (ValueError, TypeError) as exc:
        # e.g. "source code string cannot contain null bytes"
        raise CompileFailure({"kind": exception_name(exc), "message": safe_str(exc)})
    return Script(hash_, code, form, lines)


class Worker:
    def __init__(self, config, reader, out_fd):
        self.config = config
        self.reader = reader
        self.out_fd = out_fd
        self.scripts = {}
        self.instances = {}
        self.logs = LogCapture(config.max_log_entries, config.max_log_bytes)
        self.current_id = None
        # Freed when a MemoryError is caught, so that the reply can still be built.
        self.reserve: bytearray | None = bytearray(256 * 1024)

    # ---- transport -------------------------------------------------------------------------

    def send(self, data):
        view = memoryview(data + b"\n")
        while view:
            written = os.write(self.out_fd, view)
            view = view[written:]

    def reply(self, head, extra=b""):
        """`head` is a dict of small fields; `extra` is pre-encoded `,"key":value` JSON."""
        body = encode_json(head)
        self.send(body[:-1] + extra + b"}")

    def on_deadline(self, _signum, _frame):
        # The host's deadline passed: hand over what was printed, then go (the host kills us anyway).
        try:
            logs = encode_json(self.logs.take())
            self.send(b'{"id":' + encode_json(self.current_id) + b',"s":"timeout","l":' + logs + b"}")
        finally:
            os._exit(0)

    def serve(self):
        while True:
            line = self.reader.readline()
            if not line:
                return
            try:
                message = _loads(line)
                op = message["op"]
                self.current_id = message["id"]
            except BaseException as exc:
                self.send(b'{"fatal":' + encode_json("unreadable request: " + safe_str(exc)) + b"}")
                return
            if op == "run":
                self.run(message)
            elif op == "compile":
                self.compile(message)
            else:
                self.reply({"id": self.current_id, "fatal": "unknown op"})
            self.current_id = None

    # ---- compile ---------------------------------------------------------------------------

    def compile(self, message):
        started = time.perf_counter()
        try:
            script = compile_script(message["hash"], message["source"])
        except CompileFailure as failure:
            self.reply({"id": message["id"], "ok": False, "error": failure.error})
            return
        # Only checked, not kept: the compiler worker sees every session's script and keeps none.
        ms = round((time.perf_counter() - started) * 1000, 3)
        self.reply({"id": message["id"], "ok": True, "ms": ms, "form": script.form})

    # ---- run -------------------------------------------------------------------------------

    def run(self, message):
        id_ = message["id"]
        hash_ = message["hash"]
        script = self.scripts.get(hash_)
        if script is None:
            source = message.get("source")
            if type(source) is not str:
                self.reply({"id": id_, "s": "not_prepared", "l": []})
                return
            try:
                script = compile_script(hash_, source)
            except CompileFailure as failure:
                error = failure.error
                self.reply({"id": id_, "s": "error", "e": {"name": error["kind"], "message": error["message"]}, "l": []})
                return
            self.scripts[hash_] = script
        key = (message.get("key"), hash_)
        logs = self.logs
        logs.reset()
        # LogCapture is file-like where print() and tracebacks need it (write, flush), not a TextIO.
        sys.stdout = logs  # type: ignore[assignment]
        sys.stderr = logs  # type: ignore[assignment]
        error = None
        out_of_memory = False
        try:
            event = message["event"]
            instance = self.instances.get(key)
            if instance is None:
                instance = self.load(script)
                self.instances[key] = instance
            result = self.invoke(script, instance, event)
            if isinstance(result, types.CoroutineType):
                result = drive(result)
        except MemoryError:
            out_of_memory = True
        except BaseException as exc:
            try:
                error = describe_exception(exc, script)
            except MemoryError:
                out_of_memory = True
            except BaseException:
                error = {"name": "Error", "message": "the script failed and its error could not be described"}
        # Outside the except blocks: the traceback, and the frames holding the script's data, are gone.
        if out_of_memory:
            self.out_of_memory(key, id_, "the script ran out of memory")
            return
        if error is not None:
            self.reply({"id": id_, "s": "error", "e": error, "l": logs.take(), "m": rss_bytes()})
            return
        try:
            encoded = encode_json(result)
        except MemoryError:
            out_of_memory = True
        except BaseException as exc:
            error = {"name": "TypeError", "message": "result is not JSON-serialisable: " + safe_str(exc)}
        result = None
        if out_of_memory:
            self.out_of_memory(key, id_, "the result does not fit within the memory limit")
            return
        if error is not None:
            self.reply({"id": id_, "s": "error", "e": error, "l": logs.take(), "m": rss_bytes()})
            return
        if len(encoded) > self.config.max_result_bytes:
            self.reply({"id": id_, "s": "output_limit", "n": len(encoded), "l": logs.take(), "m": rss_bytes()})
            return
        self.reply({"id": id_, "s": "ok", "l": logs.take(), "m": rss_bytes()}, b',"r":' + encoded)

    def load(self, script):
        namespace = {"__name__": "script", "__builtins__": builtins, "__file__": USER_FILE}
        if script.form == "body":
            return Instance(namespace)
        exec(script.code, namespace)
        function = namespace.get(script.form)
        if not callable(function):
            raise TypeError("the script binds `%s` but it is not a function" % script.form)
        return Instance(namespace, function, accepts_two(function))

    def invoke(self, script, instance, event):
        if script.form == "body":
            namespace = instance.namespace
            namespace.pop("result", None)
            namespace["event"] = event
            namespace["params"] = event.get("params")
            namespace["context"] = event.get("context")
            exec(script.code, namespace)
            return namespace.get("result")
        first = event if script.form == "handler" else event.get("params")
        if instance.with_context:
            return instance.function(first, event.get("context"))
        return instance.function(first)

    def out_of_memory(self, key, id_, message):
        self.reserve = None
        self.instances.pop(key, None)
        gc.collect()
        try:
            logs = self.logs.take()
        except MemoryError:
            logs = []
        self.reply({"id": id_, "s": "memory", "e": {"name": "MemoryError", "message": message}, "l": logs})
        # The host retires this worker after a memory error; nothing more runs here.


def accepts_two(function):
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    positional = code.co_argcount
    if getattr(function, "__self__", None) is not None:
        positional -= 1
    return positional >= 2 or bool(code.co_flags & 0x04)  # CO_VARARGS


def drive(coroutine):
    import asyncio

    return asyncio.run(coroutine)


def preload(names):
    """Imports `names`; returns how long that took and, by module, why one failed."""
    import importlib

    started = time.perf_counter()
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # SystemExit or KeyboardInterrupt from a module's top level too
            failed[name] = (exception_name(exc) + ": " + safe_str(exc))[:500]
    return round((time.perf_counter() - started) * 1000, 3), failed


def rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    config = Config(_loads(sys.argv[1]))
    sys.path.extend(config.package_paths)
    if config.workdir:
        os.chdir(config.workdir)
    # The protocol moves off 0/1; 0, 1 and 2 then point at /dev/null, so stray writes to the
    # standard descriptors (C extensions, os.write(1, ...)) cannot garble a reply by accident.
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    # Nothing else the launcher left open stays reachable to the script.
    for fd in sorted(int(name) for name in os.listdir("/proc/self/fd") if name.isdigit()):
        if fd > 2 and fd not in (in_fd, out_fd):
            try:
                os.close(fd)
            except OSError:
                pass
    reader = os.fdopen(in_fd, "rb", buffering=1 << 16)
    if config.seccomp:
        install_seccomp(config.seccomp)
    set_limits(config)
    worker = Worker(config, reader, out_fd)
    sys.stdout = worker.logs  # type: ignore[assignment]
    sys.stderr = worker.logs  # type: ignore[assignment]
    sys.stdin = None  # type: ignore[assignment]
    signal.signal(signal.SIGUSR1, worker.on_deadline)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ready = {"ready": True, "python": sys.version.split()[0], "pid": os.getpid()}
    if config.preload:
        ms, failed = preload(config.preload)
        ready["preload"] = {"ms": ms, "failed": failed}
        # What the modules printed while loading is no script's.
        worker.logs.reset()
    gc.freeze()
    worker.send(encode_json(ready))
    worker.serve()


if __name__ == "__main__":
    main()
