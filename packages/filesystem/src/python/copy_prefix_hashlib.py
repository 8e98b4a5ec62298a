# board names: target=t path=p missing=m piece=c algorithm=a digest=h size=n source=s error=e data=d
def copy_prefix(target, path, missing, piece, algorithm):
    """copy_prefix_adler32.py on a board with hashlib: algorithm names its constructor."""
    import hashlib
    digest = getattr(hashlib, algorithm)()
    size = 0
    try:
        source = open(path, 'rb')
    except OSError as error:
        if error.args and error.args[0] in missing:
            return (0, digest.digest())
        raise
    while 1:
        data = source.read(piece)
        if not data:
            break
        target.write(data)
        size += len(data)
        digest.update(data)
    source.close()
    return (size, digest.digest())
