/**
 * A session's route: the worker slot that owns it and its protocol revision, packed in one number
 * (slot * REVISION_SLOTS + revision index) so the session table holds one small integer per session.
 */
import { SUPPORTED_VERSIONS } from '../protocol/versions.js';

/** Revision indexes one route can hold. */
export const REVISION_SLOTS = 8;

// Checked once at load: a revision table that outgrew the encoding would route sessions wrongly.
if (SUPPORTED_VERSIONS.length > REVISION_SLOTS) {
  throw new Error(
    `route encoding holds ${REVISION_SLOTS} protocol revisions, ${SUPPORTED_VERSIONS.length} are supported: raise REVISION_SLOTS`,
  );
}

export function encodeRoute(slot: number, revisionIndex: number): number {
  if (revisionIndex < 0 || revisionIndex >= REVISION_SLOTS || !Number.isInteger(revisionIndex))
    throw new RangeError(`revision index ${revisionIndex} out of range`);
  return slot * REVISION_SLOTS + revisionIndex;
}

export function routeSlot(route: number): number {
  return Math.floor(route / REVISION_SLOTS);
}

export function routeRevision(route: number): number {
  return route % REVISION_SLOTS;
}
