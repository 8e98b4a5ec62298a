# board names: paths=l keys=K registry=g key=k entry=e path=p
def remove_temporaries(paths, keys):
    """Forget the uploads keys in the registry '_bf' (closing their files), remove the files
    paths, and reply each path removed."""
    registry = globals().get('_bf') or {}
    for key in keys:
        entry = registry.pop(key, None)
        try:
            if entry and entry[0]:
                entry[0].close()
        except Exception:
            pass
    for path in paths:
        try:
            os.remove(path)
            reply(path)
        except OSError:
            pass
