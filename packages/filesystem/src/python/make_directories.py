# board names: paths=l exists=x eexist=y enotdir=z path=q error=e
def make_directories(paths, exists, eexist, enotdir):
    """Make each directory in paths (outermost first); existing directories are fine. exists: the
    values OSError.args[0] takes for "exists"; eexist, enotdir: the board's errno numbers."""
    for path in paths:
        try:
            os.mkdir(path)
        except OSError as error:
            if not (error.args and error.args[0] in exists):
                raise
            if not os.stat(path)[0] & 0x4000:
                raise OSError(eexist if path == paths[-1] else enotdir)
