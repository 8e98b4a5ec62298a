# board names: path=p
def disk_usage(path):
    """Reply (f_bsize, f_frsize, f_blocks, f_bfree, f_bavail)."""
    reply(tuple(os.statvfs(path)[:5]))
