/**
 * Session ids: 128 bits from the CSPRNG, base64url (visible ASCII only, as the spec requires).
 * Random bytes are drawn in blocks so minting an id costs one slice, not one syscall.
 */
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;
const BLOCK = ID_BYTES * 512;
const pool = Buffer.allocUnsafe(BLOCK);
let offset = BLOCK;

export function mintSessionId(): string {
  if (offset + ID_BYTES > BLOCK) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  // Never hand out the same bytes twice.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
