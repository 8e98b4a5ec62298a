# board names: path=p offset=o length=m piece=c emit=w file=f low=a high=b size=n data=d byte=x
def download(path, offset, length, piece, emit):
    """Pass up to length bytes of file path, from offset, piece by piece to emit, hashing as it
    goes; return ('end', size, Adler-32 digest) of what was passed."""
    file = open(path, 'rb')
    if offset:
        file.seek(offset)
    low = 1
    high = 0
    size = 0
    while size < length:
        data = file.read(min(piece, length - size))
        if not data:
            break
        size += len(data)
        for byte in data:
            low += byte
            high += low
        low %= 65521
        high %= 65521
        emit(data)
    file.close()
    return ('end', size, '%04x%04x' % (high, low))
