# board names: path=p recursive=r ilistdir=i entry=e name=n child=q stat=t is_dir=k size=z
def list_tree(path, recursive):
    """Reply (path, 1, 0) for each directory and (path, 0, size) for each file under path."""
    ilistdir = getattr(os, 'ilistdir', None)
    for entry in ilistdir(path) if ilistdir else os.listdir(path):
        name = entry[0] if ilistdir else entry
        child = (path if path != '/' else '') + '/' + name
        if ilistdir:
            is_dir = entry[1] == 0x4000
            size = entry[3] if len(entry) > 3 and entry[3] >= 0 else None
        else:
            stat = os.stat(child)
            is_dir = stat[0] & 0x4000
            size = stat[6]
        if is_dir:
            reply((child, 1, 0))
            if recursive:
                list_tree(child, recursive)
        else:
            reply((child, 0, file_size(child) if size is None else size))
