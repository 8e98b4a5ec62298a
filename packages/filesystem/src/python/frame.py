# board names: value=v text=t data=b
# A self-checking reply: reply(value) prints repr(value) as one line and adds its bytes (with the
# newline) to the frame's byte count and 16-bit byte sum; the exchange ends with the line
# '#<count>:<sum>', which the host checks before parsing anything. len and sum run at C speed.
frame = [0, 0]


def reply(value):
    text = repr(value)
    print(text)
    data = bytes(text, 'utf-8')
    frame[0] += len(data) + 1
    frame[1] = (frame[1] + sum(data)) & 65535
