# board names: path=p recursive=r name=n
def scan_temporaries(path, recursive):
    """scan_temporaries.py on a board without directories: its temporary files, by name."""
    for name in os.listdir():
        if name[:7] == '.belay-':
            reply(('f', name))
