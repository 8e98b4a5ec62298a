# board names: impl=i result=r found=m name=n algorithm=a text=t data=b
# What a board can do, in one round trip. Runs on every MicroPython from 1.9 on, in little
# memory: no f-strings, no json, one function whose locals are freed when it returns, one repr
# line of output and a check line: '#<bytes>:<16-bit byte sum>' of the repr's UTF-8 bytes, which
# the host checks before it believes the answer.
def _belay_probe():
    import sys, gc
    impl = sys.implementation
    result = {'impl': impl.name, 'ver': '.'.join([str(x) for x in impl.version[:3]]), 'plat': sys.platform, 'mach': getattr(impl, '_machine', '')}
    found = []
    for name in ('_thread', 'binascii', 'json', 'machine'):
        try:
            __import__(name); found.append(name)
        except ImportError:
            pass
    result['mods'] = found
    try:
        import hashlib
        result['hash'] = [algorithm for algorithm in ('sha256', 'sha1', 'md5') if hasattr(hashlib, algorithm)]
    except ImportError:
        result['hash'] = []
    try:
        import os
    except ImportError:
        import uos as os
    result['os'] = [name for name in ('listdir', 'ilistdir', 'stat', 'statvfs', 'rename', 'mkdir', 'rmdir', 'remove', 'size', 'getcwd', 'chdir', 'sync', 'uname') if hasattr(os, name)]
    if not result['mach'] and hasattr(os, 'uname'):
        result['mach'] = os.uname().machine
    try:
        import machine, binascii
        result['uid'] = binascii.hexlify(machine.unique_id()).decode()
    except Exception:
        result['uid'] = None
    gc.collect()
    result['free'] = gc.mem_free()
    text = repr(result); data = bytes(text, 'utf-8')
    print(text)
    print('#%d:%d' % (len(data), sum(data) & 65535))


_belay_probe()
del _belay_probe
