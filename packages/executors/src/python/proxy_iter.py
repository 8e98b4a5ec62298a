# board names: next_batch=_belay_pb proxies=_belay_p get=_belay_pg entry=_belay_pe
# board names: ident=i iterator=r base=b count=n out=o mark=m step=d
# The board side of iterating a proxied object (the registry and entries are proxy.py): up to
# count items of the iterator kept at ident, as entries at ids base, base + 1, ...; (1, items)
# once it ended (and the iterator dropped from the registry), else (0, items).


def next_batch(mark, ident, base, count):
    iterator = get(ident)
    out = []
    for step in range(count):
        try:
            out.append(entry(base + step, next(iterator)))
        except StopIteration:
            del proxies[ident]
            return _belay_o(mark, (1, out))
    _belay_o(mark, (0, out))
