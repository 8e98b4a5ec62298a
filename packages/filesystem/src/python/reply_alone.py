# board names: value=v text=t data=b
def reply_alone(value):
    """Reply one value in a frame of its own (see frame.py): its repr line, then
    '#<count>:<sum>'. For an exchange that replies once: smaller than frame.py's pair."""
    text = repr(value)
    data = bytes(text, 'utf-8')
    print(text)
    print('#%d:%d' % (len(data) + 1, sum(data) & 65535))
