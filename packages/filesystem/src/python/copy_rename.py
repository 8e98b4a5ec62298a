# board names: source=a target=b piece=c origin=s copy=g data=d
def copy_rename(source, target, piece):
    """Rename without os.rename: copy, check the copy has the same size and hash, then remove the
    original. The original is opened first, so a missing source never clobbers the target."""
    origin = open(source, 'rb')
    copy = open(target, 'wb')
    while 1:
        data = origin.read(piece)
        if not data:
            break
        copy.write(data)
    copy.close()
    origin.close()
    if hash_file(source, 0) != hash_file(target, 0):
        os.remove(target)
        raise OSError(5)
    os.remove(source)
