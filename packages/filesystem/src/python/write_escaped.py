# board names: data=d
def write_escaped(data):
    """Write bytes raw through sys.stdout.buffer, escaped so that the output stays framed and
    survives boards that print LF as CR LF: ESC as ESC ESC, Ctrl-D (the end of stdout in the raw
    REPL) as ESC 0x05, LF as ESC 0x0b."""
    sys.stdout.buffer.write(data.replace(b'\x1b', b'\x1b\x1b').replace(b'\x04', b'\x1b\x05').replace(b'\n', b'\x1b\x0b'))
