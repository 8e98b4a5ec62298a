# board names: temp=t reserve=v real=a size=n piece=c old=o left=k copy=g source=s block=z file=f path=p data=d
def copy_commit(temp, reserve, real, size, piece):
    """Commit a verified temporary file on a board without os.rename: first prove there is room
    for the copy (write a reservation file as large as the growth plus 512 bytes, then remove it),
    then copy temp over real. When anything before the copy fails, the reservation and the
    temporary file are removed and the error raised: the real file is untouched."""
    try:
        old = file_size(real)
    except OSError:
        old = 0
    left = size - old + 512
    copy = source = None
    try:
        copy = open(reserve, 'wb')
        block = bytes(128)
        while left > 0:
            copy.write(block)
            left -= 128
        copy.close()
        copy = None
        os.remove(reserve)
        source = open(temp, 'rb')
        copy = open(real, 'wb')
    except Exception:
        for file in (copy, source):
            try:
                file.close()
            except Exception:
                pass
        for path in (reserve, temp):
            try:
                os.remove(path)
            except OSError:
                pass
        raise
    while 1:
        data = source.read(piece)
        if not data:
            break
        copy.write(data)
    copy.close()
    source.close()
