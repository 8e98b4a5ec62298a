# board names: result=r listing=t name=n
def probe_temporaries(result, listing):
    """The probe's look at what dead uploads left (see TemporaryFiles): the registry of uploads in
    flight (reg) and the temporary files in the root (tmp; listing: the arguments of os.listdir)."""
    try:
        # The probe imports os in its own function: this one imports it for itself (a global os
        # is there only if earlier exchanges left one).
        try:
            import os
        except ImportError:
            import uos as os
        result['reg'] = registry_entries()
        result['tmp'] = [name for name in os.listdir(*listing) if name[:7] == '.belay-']
    except Exception:
        pass
