# board names: path=p offset=o length=m piece=c emit=w algorithm=a file=f digest=h size=n data=d
def download(path, offset, length, piece, emit, algorithm):
    """download_adler32.py on a board with hashlib: algorithm names its constructor."""
    import hashlib
    digest = getattr(hashlib, algorithm)()
    file = open(path, 'rb')
    if offset:
        file.seek(offset)
    size = 0
    while size < length:
        data = file.read(min(piece, length - size))
        if not data:
            break
        size += len(data)
        digest.update(data)
        emit(data)
    file.close()
    return ('end', size, digest.digest())
