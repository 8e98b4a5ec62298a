# board names: target=t path=p missing=m piece=c low=a high=b size=n source=s error=e data=d byte=x
def copy_prefix(target, path, missing, piece):
    """An append's opening: copy the file appended to (path) into the upload's temporary file
    (target), hashing as it goes; return (size, Adler-32 digest). A missing file is empty:
    missing holds the values OSError.args[0] takes for "no such file"."""
    low = 1
    high = 0
    size = 0
    try:
        source = open(path, 'rb')
    except OSError as error:
        if error.args and error.args[0] in missing:
            return (0, '00000001')
        raise
    while 1:
        data = source.read(piece)
        if not data:
            break
        target.write(data)
        size += len(data)
        for byte in data:
            low += byte
            high += low
        low %= 65521
        high %= 65521
    source.close()
    return (size, '%04x%04x' % (high, low))
