# board names: depth=_bsd
# depth(0): the call levels the board's stack holds, up to 16. The first part of the stack-depth
# probe and of the runtime (see stack_depth_probe.py and exec_runtime.py), which both ask it; the
# counting print needs 16 levels to spare.


def depth(n):
    if n > 15:
        return n
    try:
        return depth(n + 1)
    except RuntimeError:
        return n
