# board names: items=l index=i path=p digest=h
def compare_many(items):
    """Reply the index of each (path, digest) whose file differs or cannot be read: nothing for
    files that match, so an unchanged tree costs almost no reply."""
    index = 0
    for path, digest in items:
        try:
            if hash_file(path, 0)[2] != digest:
                reply(index)
        except OSError:
            reply(index)
        index += 1
