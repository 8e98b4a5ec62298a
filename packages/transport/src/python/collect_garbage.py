# Collects the board's heap (a small board's heap is full of the last exchanges' garbage), binding
# no name: the board's globals belong to the person using it, whose own `gc` stays theirs.
__import__('gc').collect()
