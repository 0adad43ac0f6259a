/**
 * Real time as a stimulus: how long a test holds a simulated input in one state
 * (a reset or button pulse), holds a fault (an outage, an unplugged cable) or
 * paces a producer (a gap between batches). Never a way to wait for a result:
 * tests wait on facts with pollUntil/within, events or metrics, and the lint
 * forbids sleeps outside test support. The one implementation lives with the
 * simulator's test support (libs/sim may import nothing outside itself).
 */
export { holdFor } from '../../libs/sim/src/testing/stimulus.js';
