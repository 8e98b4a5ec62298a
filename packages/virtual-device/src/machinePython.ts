/**
 * The virtual board's `machine` module, as Python source imported once in every fresh interpreter
 * (power-on, hard and soft reset) so that `import machine` finds a real module, as on a board:
 *
 * - `RTC().datetime()` reads, and `RTC().datetime(t)` sets, the board's clock: the host's clock
 *   (UTC) plus an offset that the board keeps across soft and hard resets (the host side holds it;
 *   a new board, like one powered on without a battery, starts at offset 0). As the firmware's:
 *   the tuple is `(year, month, day, weekday, hours, minutes, seconds, subseconds)`; a set takes
 *   exactly 8 integers (`ValueError: requested length 8 but object has length 7`, `TypeError`
 *   for a float), ignores the weekday given and works it out (Monday 0), and takes subseconds
 *   as microseconds (esp32's unit; this clock keeps milliseconds of them). A date or time out of
 *   range (month 13, 31 April, hour 24, subseconds of a second or more) is `OSError(EINVAL)`, as
 *   the rp2 port answered through 1.23, rather than a wrong date;
 *   `RTC().init((year, month, day[, hour[, minute[, second[, microsecond[, tzinfo]]]]]))` (the
 *   documented form, weekday-free) sets it too;
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


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(y, mo):
    return 29 if mo == 2 and (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else _DAYS[mo - 1]


def _check(y, mo, d, h, mi, s, sub):
    # Every field an int, as mp_obj_get_int takes it (a float is a TypeError there too).
    for v in (y, mo, d, h, mi, s, sub):
        if not isinstance(v, int):
            raise TypeError("can't convert %s to int" % type(v).__name__)
    if not (1970 <= y <= 2099 and 1 <= mo <= 12 and 1 <= d <= _days_in(y, mo)
            and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59 and 0 <= sub <= 999999):
        raise OSError(22)


def _set(y, mo, d, h, mi, s, sub):
    global _rtc_offset_ms
    _check(y, mo, d, h, mi, s, sub)
    target = _time.mktime((y, mo, d, h, mi, s, 0, 0)) * 1000 + sub // 1000
    _rtc_offset_ms = target - _time.time_ns() // 1000000
    _host.rtc_set(str(_rtc_offset_ms))


class RTC:
    def __init__(self, id=0):
        pass

    def datetime(self, t=None):
        if t is None:
            ms = _now_ms()
            y, mo, d, h, mi, s, wd, _ = _time.localtime(ms // 1000)
            return (y, mo, d, wd, h, mi, s, (ms % 1000) * 1000)
        t = tuple(t)
        if len(t) != 8:
            raise ValueError("requested length 8 but object has length %d" % len(t))
        # t[3], the weekday, is not used: the board works it out from the date.
        _set(t[0], t[1], t[2], t[4], t[5], t[6], t[7])

    def init(self, t):
        t = tuple(t)
        if not 3 <= len(t) <= 8:
            raise ValueError("datetime takes (year, month, day[, hour[, minute[, second[, microsecond[, tzinfo]]]]])")
        f = t[:7] + (0,) * (7 - len(t[:7]))
        _set(f[0], f[1], f[2], f[3], f[4], f[5], f[6])


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
