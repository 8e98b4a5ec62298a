# MicroPython before 1.20 names the module uos.
try:
    import os
except ImportError:
    import uos as os
