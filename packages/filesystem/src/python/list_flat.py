# board names: name=n
def list_flat():
    """A board without directories (board_os.listdir takes no argument): reply ('/' + name, 0, size)."""
    for name in board_os.listdir():
        reply(('/' + name, 0, file_size(name)))
