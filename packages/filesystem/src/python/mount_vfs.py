# The board side of a mounted host folder (see src/Mount.ts): a VFS class for os.mount whose
# every call is a request written to stdout while the user's code runs, answered by the host on
# stdin. Requests: \x18 nonce seq(2 hex) op len(hex):sum(hex): body \x17, the body escaped so that
# no byte the link or the host's reader treats specially appears raw. Replies: \x18 nonce seq(2 hex)
# status len(6 hex) sum(4 hex) headersum(2 hex), then len bytes of escaped payload and ';'. A reply
# that fails a check (or the host's "damaged" answer) sends the request again; the host answers a
# request it has answered already again without doing it twice.
import io, sys, errno


def _belay_unescape(data):
    data = bytes(data)
    if b'\x10' in data:
        data = data.replace(b'\x10C', b'\x03').replace(b'\x10X', b'\x18').replace(b'\x10{', b';').replace(b'\x10P', b'\x10')
    return data


def _belay_escape(data):
    data = data.replace(b'\x10', b'\x10P')
    for c in b'\x04\n\r\x17\x18\x1e\x1f':
        data = data.replace(bytes([c]), bytes([16, c + 64]))
    return data


class _BelayFile(io.IOBase):
    def __init__(self, fs, fd, size, text, pos):
        self.fs = fs
        self.fd = fd
        self.size = size
        self.text = text
        self.pos = pos
        self.buf = b''
        self.at = 0

    def _take(self, n):
        # Up to n bytes at pos: from the read-ahead buffer, else one request of at least a chunk.
        i = self.pos - self.at
        if i < 0 or i >= len(self.buf):
            self.buf = self.fs.call('r', '%d %d %d' % (self.fd, self.pos, max(n, self.fs.chunk)))
            self.at = self.pos
            i = 0
        data = self.buf[i:i + n]
        self.pos += len(data)
        return data

    def readinto(self, buf):
        data = self._take(len(buf))
        buf[:len(data)] = data
        return len(data)

    def read(self, n=-1):
        parts = []
        while n != 0:
            data = self._take(self.fs.chunk if n < 0 else n)
            if not data:
                break
            parts.append(data)
            if n > 0:
                n -= len(data)
        data = b''.join(parts)
        if self.text:
            # Complete a character cut by n bytes.
            while len(data) and n >= 0:
                try:
                    return str(data, 'utf-8')
                except UnicodeError:
                    more = self._take(1)
                    if not more:
                        break
                    data += more
            return str(data, 'utf-8')
        return data

    def readline(self):
        parts = []
        while 1:
            data = self._take(self.fs.chunk)
            if not data:
                break
            i = data.find(b'\n')
            if i >= 0:
                self.pos -= len(data) - i - 1
                parts.append(data[:i + 1])
                break
            parts.append(data)
        data = b''.join(parts)
        return str(data, 'utf-8') if self.text else data

    def readlines(self):
        return list(self)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def write(self, data):
        if isinstance(data, str):
            data = bytes(data, 'utf-8')
        else:
            data = bytes(data)
        self.buf = b''
        done = 0
        while done < len(data):
            part = data[done:done + self.fs.chunk]
            self.fs.call('w', b'%d %d ' % (self.fd, self.pos) + part)
            done += len(part)
            self.pos += len(part)
        if self.pos > self.size:
            self.size = self.pos
        return done

    def seek(self, offset, whence=0):
        self.pos = max(0, offset + (0, self.pos, self.size)[whence])
        return self.pos

    def tell(self):
        return self.pos

    def flush(self):
        pass

    def close(self):
        if self.fd >= 0:
            fd = self.fd
            self.fd = -1
            self.fs.call('c', '%d' % fd)

    def ioctl(self, request, arg):
        if request == 4:
            self.close()
        return 255 if request == 11 else 0

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


class _BelayMount:
    def __init__(self, nonce, chunk):
        self.nonce = bytes(nonce, 'ascii')
        self.chunk = chunk
        self.seq = 0
        self.cwd = '/'
        self.header = bytearray(24)
        self.write = sys.stdout.buffer.write
        self.read = sys.stdin.buffer.readinto

    def call(self, op, body):
        # One request, sent again (at most 5 times) while its reply arrives damaged.
        if isinstance(body, str):
            body = bytes(body, 'utf-8')
        body = _belay_escape(body)
        self.seq = (self.seq + 1) & 255
        seq = b'%02x' % self.seq
        request = b'\x18' + self.nonce + seq + bytes(op, 'ascii') + b'%x:%x:' % (len(body), sum(body) & 65535) + body + b'\x17'
        for attempt in range(5):
            self.write(request)
            while 1:
                answer = self.answer()
                if answer is None or answer[0] == 68 or answer[1] == seq:
                    break
            if answer is not None and answer[0] != 68:
                if answer[0] == 69:
                    name, number = str(answer[2], 'ascii').split()
                    raise OSError(getattr(errno, name, int(number)))
                return answer[2]
        raise OSError(getattr(errno, 'EIO', 5))

    def answer(self):
        # (status, seq, payload), or None when it arrived damaged.
        header = self.header
        view = memoryview(header)
        self.read(view[:1])
        if header[0] != 24:
            return self.skip()
        self.read(view[1:])
        try:
            if header[1:9] != self.nonce or sum(header[1:22]) & 255 != int(bytes(header[22:24]), 16):
                return self.skip()
            n = int(bytes(header[12:18]), 16)
            check = int(bytes(header[18:22]), 16)
        except ValueError:
            return self.skip()
        body = bytearray(n + 1)
        self.read(body)
        if body[n] != 59 or (sum(body) - 59) & 65535 != check:
            return None
        return header[11], bytes(header[9:11]), _belay_unescape(memoryview(body)[:n])

    def skip(self):
        # A reply whose header came damaged: its length is not known, its end is its ';'.
        byte = memoryview(self.header)[:1]
        while 1:
            self.read(byte)
            if byte[0] == 59:
                return None

    def path(self, path):
        if not path.startswith('/'):
            path = self.cwd + path
        return path

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def chdir(self, path):
        path = self.path(path)
        if not path.endswith('/'):
            path += '/'
        if path != '/' and not self.stat(path)[0] & 0x4000:
            raise OSError(errno.ENOTDIR)
        self.cwd = path

    def getcwd(self):
        return self.cwd[:-1] if len(self.cwd) > 1 else ''

    def stat(self, path):
        mode, size, mtime = [int(x) for x in self.call('s', self.path(path)).split()]
        return (mode, 0, 0, 0, 0, 0, size, mtime, mtime, mtime)

    def statvfs(self, path):
        return (4096, 4096, 0, 0, 0, 0, 0, 0, 0, 255)

    def ilistdir(self, path):
        path = self.path(path)
        start = 0
        while 1:
            data = self.call('l', '%d %s' % (start, path))
            i = data.find(b' ')
            start = int(data[:i])
            for entry in data[i + 1:].split(b'/')[:-1]:
                i = entry.find(b' ')
                yield (str(entry[i + 1:], 'utf-8'), 0x4000 if entry[0] == 100 else 0x8000, 0, int(entry[1:i]))
            if not start:
                break

    def open(self, path, mode):
        fd, size = [int(x) for x in self.call('o', mode + ' ' + self.path(path)).split()]
        return _BelayFile(self, fd, size, 'b' not in mode, size if 'a' in mode else 0)

    def remove(self, path):
        self.call('x', self.path(path))

    def rmdir(self, path):
        self.call('d', self.path(path))

    def mkdir(self, path):
        self.call('m', self.path(path))

    def rename(self, old, new):
        old = bytes(self.path(old), 'utf-8')
        self.call('n', b'%d ' % len(old) + old + bytes(self.path(new), 'utf-8'))
