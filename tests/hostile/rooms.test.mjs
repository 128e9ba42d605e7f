// A socket that names another session's room. The example's socket event "join" (a room
// name) is the chat-room call of the Socket.IO guides; the attacker's socket, in a session
// of its own, joins the victim's session id (readable in any cookie it has seen) and the
// engine's reserved name for the victim's room. It must get none of the victim's
// notifications and must not be disconnected by the victim's logout.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  newSession,
  Clients,
  TRANSPORTS,
  counts,
  emitWithAck,
  splitCookieValue,
  waitForEvent,
  waitForDisconnect,
  sleep,
  SUITE_TIMEOUT_MS,
} from "../e2e/harness.mjs";
import { startHostile, assertServesOthers } from "./lib.mjs";

/** How long "nothing arrives" is watched for, once the victim's socket got its event. */
const QUIET_MS = 300;
const RESERVED = 'invalid value: room names starting with "sessionio:" are reserved';

describe("rooms: a socket that joins another session's room", { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  const clients = new Clients();
  before(async () => {
    server = await startHostile();
  });
  afterEach(() => clients.closeAll());
  after(() => server?.stop());

  for (const transport of TRANSPORTS) {
    const tag = `[${transport.name}]`;

    test(`finding 10: joining another session's id gets none of its "current count" and survives its logout; the engine's name for its room is refused ${tag}`, async () => {
      const victim = await newSession(server.http);
      const attacker = await newSession(server.http);
      const theirs = await clients.connect(server.socket, { transport, cookie: victim.cookie, label: "victim" });
      const mine = await clients.connect(server.socket, { transport, cookie: attacker.cookie, label: "attacker" });
      const { id } = splitCookieValue(victim.cookieValue);

      // The raw id is an ordinary room of that name, not the victim's session room.
      assert.deepEqual(await emitWithAck(mine, "join", id), [id]);
      for (const reserved of [`sessionio:session:${id}`, "sessionio:anything"]) {
        const refused = await emitWithAck(mine, "join", reserved);
        assert.ok(
          typeof refused?.error === "string" && refused.error.startsWith(RESERVED),
          `joining ${reserved} acked ${JSON.stringify(refused)}`,
        );
      }

      // The victim's notification reaches the victim only.
      assert.equal(await victim.incr(), 1);
      await waitForEvent(theirs, "current count", { pred: (v) => v === 1, label: "on the victim's socket" });
      await sleep(QUIET_MS);
      assert.deepEqual(counts(mine), [], "the attacker's socket received the victim's \"current count\"");

      // The victim's logout disconnects the victim only.
      const out = await victim.post("/logout", { keepCookie: false });
      assert.equal(out.status, 204);
      assert.equal((await waitForDisconnect(theirs, { label: "(victim) after its logout" })).reason, "io server disconnect");
      await sleep(QUIET_MS);
      assert.equal(mine.connected, true, `the attacker's socket was disconnected by the victim's logout: ${JSON.stringify(mine.disconnects)}`);
      assert.equal(await emitWithAck(mine, "incr"), 1, "the attacker's own session still works");
      await assertServesOthers(server, clients, { transport, label: "after the room attack" });
    });
  }
});
