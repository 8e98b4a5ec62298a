# board names: threads=_belay_t run_thread=_belay_tw start_thread=_belay_ts ask_thread=_belay_tx thread_module=_belay_tm
# board names: thread_id=i function=f args=a kwargs=k state=s error=e trace=t buffer=b stop=p ticks=n
# The board side of threads, deployed once per board (and again after a reset) like any unit.
# threads maps a thread id to [stop flag, state, error]: state 0 running, 1 finished, 2 failed
# (error = (type, message, traceback)). start_thread leaves no entry when the thread did not
# start. ask_thread(id, stop, ticks) sets the stop flag when asked, waits up to ticks * 10 ms for
# the thread to end, and returns (state, error), with state 3 when the id is unknown.
import _thread as thread_module
threads = {}


def run_thread(thread_id, function, args, kwargs):
    state = threads[thread_id]
    try:
        function(lambda: state[0], *args, **kwargs)
        state[1] = 1
    except BaseException as error:
        trace = ''
        try:
            import io, sys
            buffer = io.StringIO(); sys.print_exception(error, buffer); trace = buffer.getvalue()
        except Exception:
            pass
        state[2] = (type(error).__name__, str(error), trace); state[1] = 2


def start_thread(thread_id, function, args, kwargs):
    try:
        threads[thread_id] = [False, 0, None]; thread_module.start_new_thread(run_thread, (thread_id, function, args, kwargs))
    except:
        threads.pop(thread_id, None); raise


def ask_thread(thread_id, stop, ticks):
    import time
    state = threads.get(thread_id)
    if state is None: return (3, None)
    if stop: state[0] = True
    while state[1] == 0 and ticks > 0:
        time.sleep_ms(10); ticks -= 1
    if state[1]: del threads[thread_id]
    return (state[1], state[2])
