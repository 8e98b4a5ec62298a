# board names: run_if_intact=_belay_x request=q length=n byte_sum=s
# The short form of a checked request, deployed by the caller: runs the bytes `request` only when
# their length and byte sum are what the host sent, else raises NameError(request_damaged).


def run_if_intact(request, length, byte_sum):
    if len(request) == length and sum(request) == byte_sum:
        exec(request)
    else:
        request_damaged
