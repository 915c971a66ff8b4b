/**
 * Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its hash tag (the part between the first
 * `{` and the next `}`, when not empty), modulo 16384. Used to group a batch so that no pipeline
 * mixes keys that different nodes serve. A test checks it against CLUSTER KEYSLOT.
 */
export const SLOT_COUNT = 16384;

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  TABLE[i] = crc & 0xffff;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >> 8) ^ bytes[i]) & 0xff];
  return crc;
}

function crc16Ascii(s: string): number {
  let crc = 0;
  for (let i = 0; i < s.length; i++) crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >> 8) ^ s.charCodeAt(i)) & 0xff];
  return crc;
}

export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  // Session ids are visible ASCII; anything else is hashed as the UTF-8 bytes Redis sees.
  return (Buffer.byteLength(key, 'utf8') === key.length ? crc16Ascii(key) : crc16(Buffer.from(key, 'utf8'))) % SLOT_COUNT;
}
