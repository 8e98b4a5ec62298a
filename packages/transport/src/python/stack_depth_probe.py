# board names: depth=_bsd
# Sent after stack_depth.py: answers 'deep' when the board's stack holds 16 call levels to spare
# for the counting print, else 'shallow'; asked before exec_runtime.py is sent, so that a small
# board is not sent a runtime it would not keep. Words, not digits: no single damaged byte turns
# one answer into the other.
print('deep' if depth(0) > 15 else 'shallow')
del depth
