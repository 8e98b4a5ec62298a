# board names: key=k value=v
def registry_entries():
    """The registry of uploads in flight ('_bf': key -> [file, host, pid]) as [[key, host, pid]]."""
    return [[key] + value[1:] for key, value in (globals().get('_bf') or {}).items() if type(value) is list]
