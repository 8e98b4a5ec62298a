import { py } from "@belay/executors"

/**
 * `_thread` for the virtual board's WebAssembly MicroPython, which has none (the stand-in of
 * packages/executors/test/virtual-threads.test.ts): runs the function at once, in the caller's
 * thread. Installed before the capability probe, it makes the probe report threads, so everything
 * Belay sends for threads is exercised on real MicroPython.
 */
export const THREAD_STAND_IN = py`
  import sys
  class _belay_test_thread:
      @staticmethod
      def start_new_thread(f, a):
          f(*a)
  sys.modules['_thread'] = _belay_test_thread
`
