# board names: algorithm=g piece=c new_hash=w path=p split=s handle=f hasher=h first=q read=n data=d
def make_file_hasher(algorithm, piece):
    """hash_file(path, split) for this board's algorithm ('adler32' or a hashlib name), reading
    piece bytes at a time."""
    if algorithm == 'adler32':
        new_hash = Adler32
    else:
        import hashlib
        new_hash = getattr(hashlib, algorithm)

    def hash_file(path, split):
        """(size of the rest, digest of the first split bytes, digest of the rest); a file shorter
        than split gives a negative size."""
        handle = open(path, 'rb')
        hasher = new_hash()
        first = None
        read = 0
        while 1:
            if read == split:
                first = hasher.digest()
                hasher = new_hash()
            data = handle.read(min(piece, split - read) if read < split else piece)
            if not data:
                break
            read += len(data)
            hasher.update(data)
        handle.close()
        if first is None:
            first = hasher.digest()
            hasher = new_hash()
        return (read - split, first, hasher.digest())

    return hash_file
