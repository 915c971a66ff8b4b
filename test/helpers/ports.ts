/** Free loopback port blocks for tests: the cluster runner's own helper (compiled; npm test builds first). */
export { freePortBlock } from '../../dist/src/cluster/local/ports.js';
