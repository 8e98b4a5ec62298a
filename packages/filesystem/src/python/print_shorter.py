# board names: data=d text=r
def print_shorter(data):
    """Print a piece of a file as whichever is shorter: its repr (text), or base64 marked with
    '!' (binary). The length of base64 is known without computing it."""
    text = repr(data)
    if len(text) > 4 * ((len(data) + 2) // 3) + 1:
        print('!' + binascii.b2a_base64(data).decode(), end='')
    else:
        print(text)
