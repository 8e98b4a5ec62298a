# board names: data=d low=a high=b self=s .low=a .high=b
class Adler32:
    """Adler-32 for boards without hashlib; the digest is 8 hex digits."""

    def __init__(self):
        self.low = 1
        self.high = 0

    def update(self, data):
        # Pieces of at most 1024 bytes keep the sums small ints.
        low = self.low
        high = self.high
        for x in data:
            low += x
            high += low
        self.low = low % 65521
        self.high = high % 65521

    def digest(self):
        return '%04x%04x' % (self.high, self.low)
