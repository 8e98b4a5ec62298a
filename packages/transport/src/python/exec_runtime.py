# board names: depth=_bsd make_runtime=_belay_m deep=_belay_w counting_print=_belay_print step=_belay_step
# board names: builtins_module=B board_print=P counts=c args=a text=t data=b length=l
# board names: byte_sum=u char=x nonce=k what=m value=v checksum=s reply=r counted=w
# The runtime of checked exchanges, deployed once per board boot after stack_depth.py. It defines
# checked_exchange(nonce, what, value=None, checksum=None):
#   what = the request ('x' + code to exec, 'v' + expression to eval), value = its length in
#     characters, checksum = the byte sum of its UTF-8: checked, then run between a start frame
#     and an end frame; a damaged request raises NameError(request_damaged) having run nothing;
#   what = 1 starts an exchange (the start frame, the counting print), 3 sends eval's value
#     (value), 0 ends it (print restored, the end frame), 2 only restores print (after an
#     exchange that was cut off).
# While an exchange runs, print is a counting print: each call sends its text as one frame with
# its byte count and 16-bit byte sum, '\x10 \x04 \n \x1e \x1f' escaped as '\x10' + the byte + 64.
# A board with fewer than 16 call levels to spare keeps none of it: the runtime removes itself
# and answers 'shallow' (requests then bring lean_exec_runtime.py along), else 'deep'.


def make_runtime():
    import builtins as builtins_module
    # A runtime deployed before (this is a redeploy): put the board's own print back first.
    try:
        checked_exchange('', 2)
    except:
        pass
    board_print = builtins_module.print
    # Frames, bytes and byte sum printed so far; whether an exchange is open.
    counts = [0, 0, 0, 0]

    # Whether print is counted: only with the stack to spare.
    counted = depth(0) > 15

    def counting_print(*args, sep=' ', end='\n', file=None):
        if file is not None:
            return board_print(*args, sep=sep, end=end, file=file)
        text = (' ' if sep is None else sep).join(map(str, args)) + ('\n' if end is None else end)
        data = bytes(text, 'utf8')
        length = len(data)
        byte_sum = sum(data) & 65535
        counts[0] += 1
        counts[1] += length
        counts[2] = (counts[2] + byte_sum) & 65535
        for char in '\x10\x04\n\x1e\x1f':
            if char in text:
                text = text.replace(char, '\x10' + chr(ord(char) + 64))
        board_print('\x1e', text, '\x1f', length, ':', byte_sum, sep='', end='\x1f')

    def step(nonce, what, value=None, checksum=None):
        if type(what) is str:
            if len(what) != value or sum(bytes(what, 'utf8')) != checksum:
                raise NameError('_belay_request_damaged')
            step(nonce, 1)
            try:
                if what[0] == 'v':
                    step(nonce, 3, eval(what[1:]))
                else:
                    exec(what[1:])
            finally:
                step(nonce, 0)
            return
        if what == 1:
            counts[0] = counts[1] = counts[2] = 0
            counts[3] = 1
            board_print('\x1e', nonce, 'S', sep='', end='\x1f')
            if counted:
                builtins_module.print = counting_print
            return
        if what == 3:
            reply = repr(value)
            data = bytes(reply, 'utf8')
            board_print('\x1e', nonce, 'V', len(data), ':', sum(data) & 65535, ':', reply, sep='', end='\x1f')
            return
        builtins_module.print = board_print
        if what == 0 and counts[3]:
            board_print('\x1e', nonce, 'E', counts[0], ':', counts[1], ':', counts[2], sep='', end='\x1f')
        counts[3] = 0

    return step, counted


checked_exchange, deep = make_runtime()
del make_runtime, depth
if not deep:
    del checked_exchange
print('deep' if deep else 'shallow')
del deep
