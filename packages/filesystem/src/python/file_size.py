# board names: path=p data=d size=n handle=f
def file_size(path):
    """The size of a file; OSError when it does not exist."""
    if hasattr(os, 'stat'):
        return os.stat(path)[6]
    if hasattr(os, 'size'):
        return os.size(path)
    handle = open(path, 'rb')
    size = 0
    while 1:
        data = handle.read(128)
        if not data:
            break
        size += len(data)
    handle.close()
    return size
