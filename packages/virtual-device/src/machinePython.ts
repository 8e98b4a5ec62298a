/**
 * The virtual board's `machine` module, as Python source imported once in every fresh interpreter
 * (power-on, hard and soft reset) so that `import machine` finds a real module, as on a board:
 *
 * - `RTC().datetime()` reads, and `RTC().datetime(t)` sets, the board's clock: the host's clock
 *   (UTC) plus an offset that the board keeps across resets (the host side holds it; a new board,
 *   like one powered on without a battery, starts at offset 0);
 * - `reset()` is the reset button: the interpreter stops, the board boots again (banner,
 *   boot.py, main.py), RAM is gone and the flash stays;
 * - `soft_reset()` raises `SystemExit`, which the firmware answers with a soft reset;
 * - `unique_id()` (stable per flash folder) and `freq()`.
 *
 * `%RTC_OFFSET_MS%` and `%UNIQUE_ID%` are filled in by the worker; `_vboard_host` (imported as
 * `_host`) is the worker's JavaScript module: the RTC offset goes to the host through it, and
 * `reset` asks the host for a hard reset.
 *
 * @internal
 */
export const MACHINE_PYTHON = `
import time as _time
import _vboard_host as _host

_rtc_offset_ms = %RTC_OFFSET_MS%
_UNIQUE_ID = bytes.fromhex(%UNIQUE_ID%)
# A nominal clock frequency: the virtual board has none of its own.
_freq = 125000000


def _now_ms():
    return _time.time_ns() // 1000000 + _rtc_offset_ms


class RTC:
    def __init__(self, id=0):
        pass

    def datetime(self, t=None):
        global _rtc_offset_ms
        if t is None:
            ms = _now_ms()
            y, mo, d, h, mi, s, wd, _ = _time.localtime(ms // 1000)
            return (y, mo, d, wd, h, mi, s, (ms % 1000) * 1000)
        if len(t) < 7:
            raise ValueError("datetime takes (year, month, day, weekday, hours, minutes, seconds[, subseconds])")
        sub = t[7] if len(t) > 7 else 0
        target = _time.mktime((t[0], t[1], t[2], t[4], t[5], t[6], 0, 0)) * 1000 + sub // 1000
        _rtc_offset_ms = target - _time.time_ns() // 1000000
        _host.rtc_set(str(_rtc_offset_ms))

    def init(self, t):
        self.datetime(t)


def reset():
    _host.reset()


def soft_reset():
    raise SystemExit


def unique_id():
    return _UNIQUE_ID


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz
`
