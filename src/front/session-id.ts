/**
 * Session ids: 128 bits from the CSPRNG, base64url (visible ASCII only, as the spec requires).
 * Random bytes are drawn in blocks so minting an id costs one slice, not one syscall. Each node owns
 * its source (no module state shared between nodes of one process).
 */
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;
const BLOCK = ID_BYTES * 512;

export class SessionIdSource {
  private readonly pool = Buffer.allocUnsafe(BLOCK);
  private offset = BLOCK;

  mint(): string {
    if (this.offset + ID_BYTES > BLOCK) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const id = this.pool.toString('base64url', this.offset, this.offset + ID_BYTES);
    // Never hand out the same bytes twice.
    this.pool.fill(0, this.offset, this.offset + ID_BYTES);
    this.offset += ID_BYTES;
    return id;
  }
}
