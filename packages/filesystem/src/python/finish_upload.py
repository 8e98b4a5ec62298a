# board names: temp=t split=s expected=E real=a result=r
def finish_upload(temp, split, expected, real):
    """An upload's last step on a board with os.rename (or written in place): hash the file
    written (hash_file) and compare with what was sent; reply ('ok',) after renaming it to real,
    or ('bad', size, prefix digest, digest) after removing it. real None: written in place,
    nothing to rename or remove."""
    result = hash_file(temp, split)
    if result != expected:
        if real:
            os.remove(temp)
        return ('bad',) + result
    if real:
        os.rename(temp, real)
    return ('ok',)
