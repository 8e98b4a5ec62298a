# board names: real=a reserve=v base=b grow=g at=p nospace=m old=o need=n free=r stat=s file=f block=q error=e
def room_for_write(real, reserve, base, grow, at, nospace):
    """Is there room to write over real? It needs base + max(0, grow - old) bytes free, old being
    real's size (0 when missing). With at (a directory, on a board with os.statvfs), free is what
    statvfs says; without, free is measured by writing a reservation file of the bytes needed,
    removed after: all of them when they fit, else as many as fit (an OSError whose errno is in
    nospace ends it; any other is raised). Replies (old, need, free)."""
    try:
        old = file_size(real)
    except OSError:
        old = 0
    need = base + max(0, grow - old)
    if at is not None:
        stat = os.statvfs(at)
        return (old, need, (stat[1] or stat[0]) * stat[4])
    free = 0
    file = None
    try:
        file = open(reserve, 'wb')
        block = bytes(128)
        while free < need:
            file.write(block)
            free += 128
    except OSError as error:
        if error.args[0] not in nospace:
            raise
    finally:
        try:
            file.close()
        except Exception:
            pass
        try:
            os.remove(reserve)
        except OSError:
            pass
    return (old, need, free)
