/**
 * A `run` file of a given size, written as people write board code: a module docstring, sections
 * under banner comments, classes and functions with docstrings, comments at the ends of lines,
 * blank lines between definitions, four spaces per indent level; each section checks itself and
 * prints one line. For the minify bench.
 */

const section = (n: number): string => `
# ---------------------------------------------------------------------------
# Section ${n}: a moving average over the last readings of a sensor.
# ---------------------------------------------------------------------------


class Filter${n}:
    """A moving average over the last \`size\` readings.

    Readings older than \`size\` are dropped; \`value()\` is the mean of what
    is kept, or None before the first reading.
    """

    def __init__(self, size=4):
        """Start empty, keeping at most \`size\` readings."""
        self.size = size
        self.readings = []  # the newest last

    def add(self, reading):
        """Keep \`reading\`, dropping the oldest beyond \`size\`."""
        self.readings.append(reading)
        if len(self.readings) > self.size:
            self.readings.pop(0)  # the oldest goes first

    def value(self):
        """The mean of the readings kept, or None when there are none."""
        if not self.readings:
            return None
        return sum(self.readings) / len(self.readings)


def check${n}():
    """Feed the filter known readings and compare its mean."""
    f = Filter${n}(3)
    for reading in (1, 2, 3, 4):
        # each reading scaled by the section's number
        f.add(reading * ${n + 1})
    expected = (2 + 3 + 4) * ${n + 1} / 3
    return abs(f.value() - expected) < 1e-6


print("section", ${n}, "ok" if check${n}() else "WRONG")
`

/**
 * A run file of at least `bytes` bytes (whole sections).
 *
 * @example
 * runFile(20_000).length // a little over 20000
 */
export const runFile = (bytes: number): string => {
  let text = '"""Sensor filters for a small board.\n\nEach section defines a filter and checks it.\n"""\n'
  for (let n = 0; text.length < bytes; n++) text += section(n)
  return text
}
