// Protocol buffers wire format reader: splits a message into (field number, value) pairs without a schema.

export interface WireField {
  no: number;
  /** 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  wt: number;
  varint?: bigint;
  bytes?: Uint8Array;
  fixed?: Uint8Array;
}

/** Reads a varint at pos; returns [value, next position]; throws on truncated input. */
export function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= b.length) throw new Error('protobuf: truncated varint');
    const byte = b[pos++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
    if (shift > 70n) throw new Error('protobuf: varint too long');
  }
}

/** The fields of one message in wire order; throws on malformed input (groups are not supported). */
export function readFields(b: Uint8Array): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const [tag, p1] = readVarint(b, pos);
    pos = p1;
    const no = Number(tag >> 3n);
    const wt = Number(tag & 7n);
    if (no === 0) throw new Error('protobuf: field number 0');
    switch (wt) {
      case 0: {
        const [v, p] = readVarint(b, pos);
        out.push({ no, wt, varint: v });
        pos = p;
        break;
      }
      case 1:
        if (pos + 8 > b.length) throw new Error('protobuf: truncated fixed64');
        out.push({ no, wt, fixed: b.subarray(pos, pos + 8) });
        pos += 8;
        break;
      case 2: {
        const [len, p] = readVarint(b, pos);
        const end = p + Number(len);
        if (end > b.length) throw new Error('protobuf: truncated bytes');
        out.push({ no, wt, bytes: b.subarray(p, end) });
        pos = end;
        break;
      }
      case 5:
        if (pos + 4 > b.length) throw new Error('protobuf: truncated fixed32');
        out.push({ no, wt, fixed: b.subarray(pos, pos + 4) });
        pos += 4;
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wt}`);
    }
  }
  return out;
}
