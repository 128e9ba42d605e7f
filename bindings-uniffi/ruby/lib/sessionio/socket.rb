# frozen_string_literal: true

module Sessionio
  # One connected Socket.IO client, as handlers see it.
  class Socket
    attr_reader :native

    def initialize(native)
      @native = native
    end

    def id
      @native.id
    end

    # The namespace path, e.g. "/".
    def namespace
      @native.namespace
    end

    # The session id, nil for an anonymous socket.
    def session_id
      @native.session_id
    end

    # The user the socket's session was logged in as when the socket connected (logging
    # in or out disconnects the session's sockets), nil otherwise.
    def user_id
      @native.user_id
    end

    # A live handle on the socket's session, nil for an anonymous socket.
    def session
      native = @native.session
      native && Session.new(native)
    end

    def connected?
      @native.connected
    end

    # What the client sent when it connected: {"headers", "query", "auth", "time" (Unix
    # ms), "address" ({"ip", "port"} or nil)}, the one shape every binding gives.
    def handshake
      @handshake ||= Values.lift(@native.handshake)
    end

    # Emits `event` with `args` to this socket (binary Strings go as attachments).
    def emit(event, *args)
      @native.emit(event.to_s, args.map { |a| Values.lower(a) })
      nil
    end

    # Emits `event` and waits for the client's ack (`timeout` seconds, default the
    # engine's); the ack's arguments, an Array.
    def emit_with_ack(event, *args, timeout: nil)
      reply = @native.emit_with_ack(event.to_s, args.map { |a| Values.lower(a) }, timeout&.to_f)
      reply.map { |v| Values.lift(v) }
    end

    # Joins a room; a name starting with "sessionio:" (the engine's own) is refused.
    def join(room)
      @native.join(room.to_s)
      self
    end

    def leave(room)
      @native.leave(room.to_s)
      self
    end

    # The rooms the socket joined (the engine's own are not listed).
    def rooms
      @native.rooms
    end

    # Disconnects the socket from the server side (the client does not reconnect).
    def disconnect
      @native.disconnect
      nil
    end

    def inspect
      "#<Sessionio::Socket #{id}>"
    end
  end
end
