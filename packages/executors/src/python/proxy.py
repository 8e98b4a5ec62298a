# board names: proxies=_belay_p plain=_belay_pp get=_belay_pg keep=_belay_pk entry=_belay_pe
# board names: drop=_belay_pd next_batch=_belay_pb
# board names: value=v depth=d kinds=s kind=t key=k item=x ident=i idents=j iterator=r base=b
# board names: count=c out=o mark=m
# The board side of proxies, deployed once per board (and again after a reset) like any unit.
# proxies is the one registry of objects the host holds handles to: host-chosen int id to object
# (ids are never reused by the host, so a lookup after a reset the host did not see fails rather
# than finding another object). A value goes back to the host as (0, value) when repr() gives a
# Python literal all the way down (plain), else it is kept at the id the host chose and goes back
# as (1, its type). Nothing here defines a global per object.
proxies = {}


def plain(value, depth=0, kinds=(int, float, str, bytes, bool, bytearray)):
    kind = type(value)
    if value is None or kind in kinds:
        return 1
    if depth > 12:
        return 0
    if kind is dict:
        for key in value:
            if not (plain(key, depth + 1) and plain(value[key], depth + 1)):
                return 0
        return 1
    if kind is list or kind is tuple or kind is set:
        for item in value:
            if not plain(item, depth + 1):
                return 0
        return 1
    return 0


def get(ident):
    # A KeyError naming _belay_stale is how the host tells a handle the board no longer holds.
    if ident not in proxies:
        raise KeyError('_belay_stale', ident)
    return proxies[ident]


def keep(ident, value):
    proxies[ident] = value
    return (1, str(type(value)))


def entry(ident, value):
    if plain(value):
        return (0, value)
    return keep(ident, value)


def drop(idents):
    for ident in idents:
        proxies.pop(ident, None)


def next_batch(mark, ident, base, count):
    # Up to count items of the iterator kept at ident, as entries (ids base, base + 1, ...);
    # (1, items) and the iterator released when it ended, (0, items) when it may have more.
    iterator = get(ident)
    out = []
    for n in range(count):
        try:
            item = next(iterator)
        except StopIteration:
            del proxies[ident]
            _belay_o(mark, (1, out))
            return
        out.append(entry(base + n, item))
    _belay_o(mark, (0, out))
