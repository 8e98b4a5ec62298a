# Collects the board's heap (a small board's heap is full of the last exchanges' garbage).
import gc
gc.collect()
