# board names: raw=d names=l listing=t result=r error=e out=b text=s data=c
def probe(raw, names, listing):
    """The file-transfer probe: does an 8-bit bytes literal (raw, the bytes 0..255 as the upload
    encoding writes them, or None on a text-only link) arrive intact, the board's errno numbers (names), its free memory after a
    collection; with listing (the arguments of os.listdir for the root: [] on a board without
    directories), the root's temporary files and the registry of uploads. Replies one dict,
    framed as reply_alone.py does."""
    import gc
    result = {}
    result['raw'] = raw == bytes(range(256))
    try:
        import errno
    except ImportError:
        try:
            import uerrno as errno
        except ImportError:
            errno = None
    result['errno'] = [getattr(errno, n, None) for n in names] if errno else []
    # The number the filesystem really raises for a missing file (a VFS may not use the errno
    # module's numbers: MicroPython on Emscripten raises Emscripten's). Read-only.
    try:
        import os
    except ImportError:
        import uos as os
    try:
        open('.belay-probe-missing', 'rb').close()
    except OSError as error:
        result['enoent'] = error.args[0] if error.args else None
    # binascii written in Python (micropython-lib's, as on the WebAssembly port) is slow and makes
    # heaps of garbage: base64 is used only with a built-in one.
    try:
        import binascii
        result['b64'] = not hasattr(binascii, '__file__')
    except ImportError:
        result['b64'] = False
    # Can the board print raw bytes (sys.stdout.buffer, not cooked)? It writes every byte value
    # escaped as downloads do (write_escaped.py), first thing in its output; the host checks.
    # Not when raw is None: the host's link carries only UTF-8 text (a browser's WebREPL).
    import sys
    out = getattr(sys.stdout, 'buffer', None) if raw and hasattr(sys, 'stdout') else None
    if out:
        out.write(bytes(range(256)).replace(b'\x1b', b'\x1b\x1b').replace(b'\x04', b'\x1b\x05').replace(b'\n', b'\x1b\x0b') + b'\n')
    result['out'] = out is not None
    # What a dead host left (probe_temporaries.py). Not on small boards: the probe is as long as
    # a micro:bit can parse.
    if listing is not None:
        probe_temporaries(result, listing)
    gc.collect()
    result['free'] = gc.mem_free()
    text = repr(result)
    data = bytes(text, 'utf-8')
    print(text)
    print('#%d:%d' % (len(data) + 1, sum(data) & 65535))
