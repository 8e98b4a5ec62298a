# board names: path=p stat=s
def stat_path(path):
    """Reply (1, 0) for a directory, (0, size) for a file (boards with os.stat)."""
    stat = os.stat(path)
    reply((1, 0) if stat[0] & 0x4000 else (0, stat[6]))
