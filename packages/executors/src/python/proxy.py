# board names: proxies=_belay_p get=_belay_pg keep=_belay_pk entry=_belay_pe drop=_belay_pd
# board names: value=v ident=i idents=j level=l deeper=e item=x kind=t scalars=s containers=c depth=d
# The board side of proxies, deployed once per board (and again after a reset) like any unit.
# proxies is the one registry of objects the host holds handles to: host-chosen int id to object
# (the host never reuses an id, so a lookup after a reset the host did not see fails rather than
# finding another object). A value goes back as (0, value) when its repr() is a Python literal
# all the way down (plain), else it is kept at the id the host chose and goes back as (1, type).
# Nothing here defines a global per object. No recursion and no comprehension: a micro:bit
# (MicroPython 1.9) has room for three or four call levels inside an exchange. Iteration is
# proxy_iter.py, deployed apart: a micro:bit compiles one of them at a time, not both.
proxies = {}


def get(ident):
    if ident in proxies:
        return proxies[ident]
    raise KeyError('_belay_stale', ident)


def keep(ident, value):
    proxies[ident] = value
    return 1, str(type(value))


def entry(ident, value, scalars=(int, float, str, bytes, bool, bytearray, type(None)), containers=(list, tuple, set)):
    # Breadth first, twelve levels at most (deeper, or a cycle: kept).
    level = [value]
    for depth in range(12):
        deeper = []
        for item in level:
            kind = type(item)
            if kind is dict:
                deeper.extend(item)
                deeper.extend(item.values())
            elif kind in containers:
                deeper.extend(item)
            elif kind not in scalars:
                return keep(ident, value)
        if not deeper:
            return 0, value
        level = deeper
    return keep(ident, value)


def drop(idents):
    for ident in idents:
        proxies.pop(ident, None)
