# MicroPython before 1.20 names the module uos. Bound to a private name (board_os, `_bos` on the
# board), not `os`: the board's globals belong to the person using it, whose own `os` stays theirs.
try:
    import os as board_os
except ImportError:
    import uos as board_os
