# board names: temp=t real=a split=s expected=E key=k
def finalize_copy(temp, real, split, expected, key):
    """After an on-board copy: when the real file holds the expected content, remove the
    temporary file, forget the upload (its key in the registry '_bf') and return 1; else 0."""
    if hash_file(real, split) != expected:
        return 0
    os.remove(temp)
    globals().get('_bf', {}).pop(key, None)
    return 1
