/**
 * Python literals in both directions: parse what a board prints with `repr()` into JS values,
 * and encode JS values as Python source that any MicroPython (1.9 and later, with or without
 * `json`) evaluates to the same value.
 *
 * Value mapping (both directions):
 *
 * | Python                        | JS                                                          |
 * |-------------------------------|-------------------------------------------------------------|
 * | `None`                        | `null` (`undefined` also encodes to `None`)                 |
 * | `True` / `False`              | `true` / `false`                                            |
 * | `int`                         | `number` when a safe integer, else `bigint`                 |
 * | `float`                       | `number` (`inf`, `-inf`, `nan`, `-0.0` included)            |
 * | `str`                         | `string`                                                    |
 * | `bytes`, `bytearray`          | `Uint8Array`                                                |
 * | `list`, `tuple`               | `Array`                                                     |
 * | `dict`                        | plain object when every key is a `str`, else `Map`          |
 * | `set`                         | `Set`                                                       |
 *
 * @since 0.0.0
 */

export { MAX_ENCODE_DEPTH, toPythonLiteral } from "./PythonLiteralEncoder.js"
export { parsePythonLiteral } from "./PythonLiteralParser.js"
export {
  type PythonDict,
  PythonLiteralEncodeError,
  PythonLiteralError,
  type PythonValue,
} from "./PythonValue.js"
