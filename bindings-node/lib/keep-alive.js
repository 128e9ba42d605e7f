'use strict';
// Node's event loop does not see the engine's threads: what runs on them (a port of the
// engine's own, a socket the engine accepts on) holds the loop with a timer, as a
// listening server would.

/** The longest delay a Node timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer that only keeps the process alive until it is cleared (or unref'd). */
function keepAlive() {
  return setInterval(() => {}, MAX_TIMER_MS);
}

module.exports = { keepAlive };
