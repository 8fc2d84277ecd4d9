// Durations are a shared helper (lib/shared/duration.ts); the option parsing keeps importing them from here.
export * from '../shared/duration.ts';
