/** Request bodies and WebSocket messages this large take turns, one at a time (HeavyWork, turns.ts). */
export const HEAVY_BYTES = 64 * 1024;

/** A GraphQL document (HTTP) or WebSocket message this long is worked on in a turn of its own (turns.ts):
 * parsing and validating it costs milliseconds; shorter ones cost too little to matter. */
export const LONG_TEXT_CHARS = 2 * 1024;
