# board names: key=k real=a temp=t split=s expected=E entry=e index=i
def inspect_upload(key, real, temp, split, expected):
    """Where an interrupted upload stands: close its file if it is still open (its entry in the
    registry '_bf' stays), then return 1 when the real file holds the expected content, 2 when the
    temporary file does, 0 when neither."""
    entry = globals().get('_bf', {}).get(key)
    if entry and entry[0]:
        entry[0].close()
        entry[0] = None
    for index in (1, 2):
        try:
            if hash_file((real, temp)[index - 1], split) == expected:
                return index
        except OSError:
            pass
    return 0
