/**
 * Python appended to `BOARD_PYTHON` (same globals) when the virtual board plays CircuitPython, so
 * that the WebAssembly MicroPython underneath looks like CircuitPython to code on it:
 *
 * - `sys.implementation.name == "circuitpython"` with CircuitPython's version (`import sys` gets a
 *   stand-in holding everything the real `sys` has, since the built-in one cannot be changed);
 * - OSError texts as CircuitPython prints them (`OSError: [Errno 30] Read-only filesystem`);
 * - a flash that code sees read-only unless boot.py called `storage.remount("/", False)`, as when
 *   the CIRCUITPY drive belongs to the computer over USB;
 * - `storage` (`remount`, `getmount`), `microcontroller` (`reset`, `cpu.uid`), and no `machine`;
 * - `os` without `ilistdir`, with `sync`, `uname` and `getenv`.
 *
 * Placeholders: `%CP_VERSION%` (a tuple), `%CP_VERSION_TEXT%`, `%CP_MACHINE%`, `%CP_READONLY%`,
 * `%CP_BOOTING%` (Python literals).
 *
 * @internal
 */
export const CIRCUITPYTHON_PYTHON = `
import _vboard_host, collections

_CP_VERSION = %CP_VERSION%
_CP_VERSION_TEXT = %CP_VERSION_TEXT%
_CP_MACHINE = %CP_MACHINE%
# [code sees the flash read-only, boot.py is running]
_CP_STATE = [%CP_READONLY%, %CP_BOOTING%]
_CP_ERRORS = {1: "Operation not permitted", 2: "No such file/directory", 5: "Input/output error",
              13: "Permission denied", 17: "File exists", 20: "Not a directory", 21: "Is a directory",
              22: "Invalid argument", 28: "No space left on device", 30: "Read-only filesystem",
              39: "Directory not empty"}


def _cp_repr(self):
    return "OSError: [Errno %d] %s" % (self.args[0], self.args[1])


# An OSError whose traceback line reads as CircuitPython's (the port prints a tuple for two args).
_CPOSError = type("OSError", (OSError,), {"__repr__": _cp_repr})


def _cp_oserror(n):
    text = _CP_ERRORS.get(n)
    return _CPOSError(n, text) if text else OSError(n)


def _oserror(e):
    n = e.args[0] if e.args else 5
    return _cp_oserror(_ERRNO.get(n, n))


def _read_only():
    if _CP_STATE[0]:
        raise _cp_oserror(30)


def _guard(name):
    method = getattr(_Flash, name)

    def guarded(self, *args):
        _read_only()
        return method(self, *args)

    setattr(_Flash, name, guarded)


for _name in ("mkdir", "rmdir", "remove", "rename"):
    _guard(_name)
_flash_open = _Flash.open


def _open(self, path, mode):
    for c in "wax+":
        if c in mode:
            _read_only()
    return _flash_open(self, path, mode)


_Flash.open = _open


class _Mount:
    label = "CIRCUITPY"

    @property
    def readonly(self):
        return _CP_STATE[0]


class _storage:
    def remount(mount_path, readonly=False, *, disable_concurrent_write_protection=False):
        if mount_path != "/":
            raise _cp_oserror(22)
        if not _CP_STATE[1]:
            raise RuntimeError("Cannot remount '/' when visible via USB.")
        _CP_STATE[0] = bool(readonly)
        _vboard_host.remount("1" if readonly else "0")

    def getmount(mount_path):
        if mount_path != "/":
            raise _cp_oserror(22)
        return _Mount()


sys.modules["storage"] = _storage


class _cpu:
    uid = bytearray(sys.modules["machine"].unique_id())
    frequency = sys.modules["machine"].freq()


class _microcontroller:
    cpu = _cpu

    def reset():
        _vboard_host.reset()


sys.modules["microcontroller"] = _microcontroller
for _name in ("machine", "umachine"):
    if _name in sys.modules:
        sys.modules.pop(_name)

import os
del os.ilistdir


def _sync():
    _vboard_host.synced()


_uname_result = collections.namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))


def _uname():
    return _uname_result("webassembly", "webassembly", _CP_VERSION_TEXT, _CP_VERSION_TEXT + " on 2025-01-01",
                         _CP_MACHINE)


def _getenv(key, default=None):
    return default


os.sync = _sync
os.uname = _uname
os.getenv = _getenv


class _sys:
    pass


for _name in dir(sys):
    if _name[:2] != "__":
        setattr(_sys, _name, getattr(sys, _name))
_sys.implementation = collections.namedtuple("implementation", ("name", "version", "_machine", "_mpy"))(
    "circuitpython", _CP_VERSION, _CP_MACHINE, sys.implementation._mpy)
_sys.version = "3.4.0; CircuitPython " + _CP_VERSION_TEXT + " on 2025-01-01"
sys.modules["sys"] = _sys
del _name
`
