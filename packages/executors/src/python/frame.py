# board names: _belay_output=_belay_o mark=m value=v tag=s text=r data=b
# The board side of framing, deployed like any unit: _belay_output(mark, value, tag) prints value
# as one checked frame, '<mark><tag>:<length>:<sum16>:<repr>' (the mark holds the call's nonce).
# Length and sum come from C builtins (len, sum over the bytes), never a loop in Python. A repr
# holding U+FFFD (bytes that were not UTF-8) is sent as '!' and the repr of its UTF-8 bytes.
def _belay_output(mark, value, tag=0):
    text = repr(value); data = bytes(text, 'utf8')
    if b'\xef\xbf\xbd' in data: text = '!' + repr(data); data = bytes(text, 'utf8')
    print('%s%s:%d:%d:%s' % (mark, tag, len(data), sum(data) & 65535, text))
