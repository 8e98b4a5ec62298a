# board names: path=p recursive=r ilistdir=i entry=e name=n child=q
def remove_tree(path):
    ilistdir = getattr(os, 'ilistdir', None)
    for entry in ilistdir(path) if ilistdir else os.listdir(path):
        name = entry[0] if ilistdir else entry
        child = (path if path != '/' else '') + '/' + name
        if entry[1] == 0x4000 if ilistdir else os.stat(child)[0] & 0x4000:
            remove_tree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def remove_path(path, recursive):
    """Remove a file, an empty directory, or (recursive) a whole tree."""
    if os.stat(path)[0] & 0x4000:
        if recursive:
            remove_tree(path)
        else:
            os.rmdir(path)
    else:
        os.remove(path)
