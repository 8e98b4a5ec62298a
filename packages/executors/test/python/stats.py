# Board code kept in a real .py file: editors and linters see real Python.


def mean(values):
    """The arithmetic mean of a non-empty list."""
    total = 0
    for v in values:
        total += v
    return total / len(values)


def spread(values):
    return max(values) - min(values)
