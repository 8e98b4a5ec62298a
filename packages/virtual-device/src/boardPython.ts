/**
 * Python run once in every fresh interpreter (power-on and soft reset), compiled as `<board>`
 * so that its frames can be dropped from tracebacks. It makes the WebAssembly port look like a
 * board:
 *
 * - the flash: a VFS object mounted at `/` over a MEMFS directory, with littlefs-style `stat`,
 *   `ilistdir` and `statvfs` results and MicroPython errno numbers (the port's VfsPosix reports
 *   Emscripten's errno values, e.g. 44 for ENOENT);
 * - `time.sleep*` that wait in short slices so that Ctrl-C raises KeyboardInterrupt inside them
 *   (the port's sleep is a busy loop that never looks at pending exceptions); `utime` is `time`;
 * - `input()` that reads the serial line (the port's own `input` waits forever);
 * - helpers for the friendly REPL (`single` input) and boot.py/main.py.
 *
 * @internal
 */
export const BOARD_PYTHON = `
import sys, vfs, time, builtins

_ROOT = %ROOT%
_SIZE = %SIZE%
_BS = 4096
_ERRNO = {44: 2, 20: 17, 55: 39, 54: 20, 31: 21, 28: 22, 51: 28, 2: 13, 63: 1, 8: 9, 29: 5,
          43: 19, 37: 36, 10: 16, 75: 18, 48: 12}


def _oserror(e):
    n = e.args[0] if e.args else 5
    return OSError(_ERRNO.get(n, n))


def _isdir(st):
    return st[0] & 0xF000 == 0x4000


def _norm(cwd, path):
    if path[:1] != "/":
        path = cwd + "/" + path
    parts = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


class _Flash:
    # VfsPosix without a root: with one, rename() builds both paths in one buffer.
    def __init__(self):
        self._v = vfs.VfsPosix()
        self._cwd = "/"

    def _path(self, path):
        p = _norm(self._cwd, path)
        return _ROOT if p == "/" else _ROOT + p

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        try:
            return self._v.open(self._path(path), mode)
        except OSError as e:
            raise _oserror(e)

    def ilistdir(self, path):
        p = self._path(path)
        base = p + "/"
        out = []
        try:
            for entry in self._v.ilistdir(p):
                name = entry[0]
                st = self._v.stat(base + name)
                if _isdir(st):
                    out.append((name, 0x4000, 0, 0))
                else:
                    out.append((name, 0x8000, 0, st[6]))
        except OSError as e:
            raise _oserror(e)
        return iter(out)

    def stat(self, path):
        try:
            st = self._v.stat(self._path(path))
        except OSError as e:
            raise _oserror(e)
        if _isdir(st):
            return (0x4000, 0, 0, 0, 0, 0, 0, st[8], st[8], st[8])
        return (0x8000, 0, 0, 0, 0, 0, st[6], st[8], st[8], st[8])

    def mkdir(self, path):
        try:
            self._v.mkdir(self._path(path))
        except OSError as e:
            raise _oserror(e)

    def rmdir(self, path):
        try:
            self._v.rmdir(self._path(path))
        except OSError as e:
            raise _oserror(e)

    def remove(self, path):
        p = self._path(path)
        try:
            if _isdir(self._v.stat(p)):
                self._v.rmdir(p)
            else:
                self._v.remove(p)
        except OSError as e:
            raise _oserror(e)

    def rename(self, old, new):
        try:
            self._v.rename(self._path(old), self._path(new))
        except OSError as e:
            raise _oserror(e)

    def chdir(self, path):
        p = _norm(self._cwd, path)
        try:
            st = self._v.stat(self._path(p))
        except OSError as e:
            raise _oserror(e)
        if not _isdir(st):
            raise OSError(20)
        self._cwd = p

    def getcwd(self):
        return self._cwd

    def _blocks(self, p):
        used = 2
        for entry in self._v.ilistdir(p):
            child = p + "/" + entry[0]
            st = self._v.stat(child)
            if _isdir(st):
                used += self._blocks(child)
            else:
                used += max(1, (st[6] + _BS - 1) // _BS)
        return used

    def statvfs(self, path):
        total = _SIZE // _BS
        free = max(0, total - self._blocks(_ROOT))
        return (_BS, _BS, total, free, free, 0, 0, 0, 0, 255)


vfs.umount("/")
vfs.mount(_Flash(), "/")
import os
os.chdir("/")

_builtin_sleep = time.sleep
_builtin_sleep_ms = time.sleep_ms
_builtin_sleep_us = time.sleep_us
_ticks_ms = time.ticks_ms
_ticks_add = time.ticks_add
_ticks_diff = time.ticks_diff


def _wait_ms(ms):
    end = _ticks_add(_ticks_ms(), ms)
    while True:
        left = _ticks_diff(end, _ticks_ms())
        if left <= 0:
            return
        _builtin_sleep_ms(left if left < 20 else 20)


def sleep(s):
    _builtin_sleep(s * 0)
    ms = int(s * 1000)
    if ms > 0:
        _wait_ms(ms)


def sleep_ms(ms):
    _builtin_sleep_ms(ms * 0)
    if ms > 0:
        _wait_ms(ms)


def sleep_us(us):
    _builtin_sleep_us(us * 0)
    if us >= 2000:
        _wait_ms(us // 1000)
    elif us > 0:
        _builtin_sleep_us(us)


time.sleep = sleep
time.sleep_ms = sleep_ms
time.sleep_us = sleep_us
sys.modules["utime"] = time


def input(prompt=""):
    if prompt:
        sys.stdout.write(prompt)
    line = bytearray()
    read = sys.stdin.buffer.read
    while True:
        c = read(1)
        if not c:
            continue
        c = c[0]
        if c == 13:
            sys.stdout.write("\\n")
            return str(line, "utf-8")
        if c == 4 and not line:
            raise EOFError
        if c == 8 or c == 127:
            if line:
                line.pop()
                sys.stdout.write("\\b\\x1b[K")
        elif c >= 32:
            line.append(c)
            sys.stdout.buffer.write(bytes((c,)))


builtins.input = input

_main = __import__("__main__").__dict__


class _Helpers:
    def single(src):
        exec(compile(src, "<stdin>", "single"), _main)

    def path(p):
        with open(p) as f:
            src = f.read()
        exec(compile(src, p, "exec"), _main)

    def info():
        print(sys.version.split("; ", 1)[-1])
        print(sys.implementation._machine)


sys.modules["_vboard"] = _Helpers
`
