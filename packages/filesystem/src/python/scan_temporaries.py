# board names: path=p recursive=r ilistdir=i entry=e name=n child=q
def scan_temporaries(path, recursive):
    """Reply ('f', path) for each temporary file (named .belay-*) in path, and with recursive,
    in the tree below it."""
    ilistdir = getattr(os, 'ilistdir', None)
    for entry in ilistdir(path) if ilistdir else os.listdir(path):
        name = entry[0] if ilistdir else entry
        child = (path if path != '/' else '') + '/' + name
        if entry[1] == 0x4000 if ilistdir else os.stat(child)[0] & 0x4000:
            if recursive:
                scan_temporaries(child, recursive)
        elif name[:7] == '.belay-':
            reply(('f', child))
