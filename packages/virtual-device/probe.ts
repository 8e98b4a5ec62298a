import { makeDeviceCommunication } from "@belay/transport"
import { openVirtualBoard } from "./src/index.js"
import { Effect } from "effect"
const program = Effect.scoped(Effect.gen(function* () {
  const link = yield* openVirtualBoard()
  const board = yield* makeDeviceCommunication(link)
  console.log(yield* board.exec(`
print(int(b'ff',16), bytearray(b'ab')==b'ab', bytearray(b'abc')[:2]==b'ab')
b=bytearray(5); b[:2]=b'xy'; print(b)
print(b'a\\x10Cb'.replace(b'\\x10C', b'\\x03'))
import io, errno
print(getattr(errno,'ENOENT',5), getattr(errno,'EROFS',None), getattr(errno,'EACCES',None))
class F(io.IOBase):
    def readinto(self, buf):
        print('ri', len(buf)); return 0
    def ioctl(self, r, a):
        print('ioctl', r, a); return 0 if r != 11 else 255
f=F(); print(f.read(3) if hasattr(f,'read') else 'noread')
import sys; print(sys.modules.get('sys'), hasattr(sys,'modules'))
`))
}))
Effect.runPromise(program).then(()=>process.exit(0), (e)=>{console.error(e); process.exit(1)})
