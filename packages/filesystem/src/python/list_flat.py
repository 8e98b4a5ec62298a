# board names: name=n
def list_flat():
    """A board without directories (os.listdir takes no argument): reply ('/' + name, 0, size)."""
    for name in os.listdir():
        reply(('/' + name, 0, file_size(name)))
