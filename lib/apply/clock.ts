// The clock moved to lib/shared/clock.ts (the API waits in lib/kube need it too); re-exported for the apply modules.
export { type Clock, realClock } from '../shared/clock.ts';
