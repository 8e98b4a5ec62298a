# board names: key=k paths=l registry=g entry=e path=p
def abort_upload(key, paths):
    """Drop an unfinished upload: forget it (its key in the registry '_bf', which goes when
    empty), close its file, remove paths (its temporary files) where they exist. Running it again
    changes nothing."""
    registry = globals().get('_bf', {})
    entry = registry.pop(key, None)
    if not registry:
        globals().pop('_bf', None)
    try:
        entry[0].close()
    except Exception:
        pass
    for path in paths:
        try:
            os.remove(path)
        except OSError:
            pass
