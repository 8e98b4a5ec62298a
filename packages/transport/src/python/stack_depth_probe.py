# board names: depth=_belay_d
# Answers 'deep' when the board's stack holds 16 call levels to spare for the counting print,
# else 'shallow': asked before exec_runtime.py is sent, so that a small board is not sent a
# runtime it would not keep. Words, not digits: no single damaged byte turns one into the other.


def depth(n):
    if n > 15:
        return n
    try:
        return depth(n + 1)
    except RuntimeError:
        return n


print('deep' if depth(0) > 15 else 'shallow')
del depth
