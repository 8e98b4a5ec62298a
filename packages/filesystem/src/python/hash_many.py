# board names: paths=l path=p result=r error=e
def hash_many(paths):
    """Reply (path, size, digest) for each path, or (path, None, errno) when it cannot be read."""
    for path in paths:
        try:
            result = hash_file(path, 0)
            reply((path, result[0], result[2]))
        except OSError as error:
            reply((path, None, error.args[0] if error.args else None))
