# board names: nonce=k what=m value=v started=s reply=r data=b
# The runtime of checked exchanges for a board that keeps none (see exec_runtime.py): start,
# value and end frames only, no counting print. It travels inside each checked request and is
# deleted at its end; the default argument keeps whether the exchange started.


def checked_exchange(nonce, what, value=None, started=[0]):
    if what == 1:
        started[0] = 1
        print('\x1e', nonce, 'S', sep='', end='\x1f')
    elif what == 3:
        reply = repr(value)
        data = bytes(reply, 'utf8')
        print('\x1e', nonce, 'V', len(data), ':', sum(data) & 65535, ':', reply, sep='', end='\x1f')
    elif started[0]:
        started[0] = 0
        print('\x1e', nonce, 'E0:0:0', sep='', end='\x1f')
