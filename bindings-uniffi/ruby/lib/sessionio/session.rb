# frozen_string_literal: true

module Sessionio
  # A live handle on one session: every read goes to the store, every write is atomic
  # there, so there is nothing to load or save. Keys are Strings (Symbols are turned into
  # Strings); values are JSON (see Values).
  class Session
    # The engine's handle (SessionioNative::Session).
    attr_reader :native

    def initialize(native)
      @native = native
      @env = nil
    end

    # The Rack middleware's: this is the session of the request `env`, so regenerate,
    # login and logout move env["sessionio.session"] (and its id) to the new session.
    def in_request(env) # :nodoc:
      @env = env
      self
    end

    # The session id, as notify_session and destroy_session take it.
    def id
      @native.id
    end

    # The value stored under `key`, or `default` when there is none.
    def get(key, default = nil)
      value = @native.get(key.to_s)
      value.nil? ? default : Values.lift(value)
    end

    def [](key)
      get(key)
    end

    def set(key, value)
      @native.set(key.to_s, Values.lower(value))
      value
    end

    def []=(key, value)
      set(key, value)
    end

    # Removes `key`; the value it held, or nil.
    def delete(key)
      Values.lift(@native.remove(key.to_s))
    end

    # Adds `by` to the Integer under `key` (0 when missing), atomically; the new value.
    def increment(key, by = 1)
      @native.increment(key.to_s, by)
    end

    # Runs the block on the session's data (a Hash it may change) inside one atomic
    # update; returns the block's value. The block may run more than once, when another
    # writer got there first: keep it free of other side effects.
    def update(&block)
      raise ArgumentError, "update needs a block" unless block

      updater = Updater.new(block)
      Values.lift(@native.update(updater))
    rescue SessionioNative::SessionioError::Handler
      raise updater.error || $!
    end

    # The whole data, a Hash.
    def data
      Values.lift(@native.data)
    end

    alias to_h data

    # When the session expires unless it is used.
    def expires_at
      Time.at(@native.expires_at / 1000r)
    end

    # Stores a new session now (its response then sets the cookie). A session is stored
    # by its first write otherwise; a page that opens a socket saves it first.
    def save
      @native.save
      self
    end

    # The same data under a new id (after a login: the old cookie is refused); the new
    # session. In a request, the response sets the new cookie and the request's session
    # (Rack.session_of, current_session) is the new one.
    def regenerate
      renewed(@native.regenerate)
    end

    # Logs the session in as `user_id` (a String, or anything whose to_s is one: 1 to 256
    # bytes, no control characters — the engine's rule; InvalidValueError otherwise) under
    # a new id, as regenerate does; the new session. Its sockets are then reached by
    # Engine#notify_user, and it is listed by Engine#user_sessions.
    def login(user_id)
      renewed(@native.login(Values.text(user_id)))
    end

    # Unbinds the session from its user under a new id, as regenerate does (the data is
    # kept); the new session.
    def logout
      renewed(@native.logout)
    end

    # The user the session is logged in as, nil when it is not.
    def user_id
      @native.user_id
    end

    # Deletes the session and disconnects its sockets; how many.
    def destroy
      @native.destroy
    end

    # Emits `event` with `data` to every socket of the session; how many.
    def notify(event, data = nil)
      @native.notify(event.to_s, Values.lower(data))
    end

    def inspect
      "#<Sessionio::Session>"
    end

    private

    # The session a rotation gave; a request's session moves to it.
    def renewed(native)
      session = Session.new(native)
      return session unless @env && @env[Rack::SESSION].equal?(self)

      session.in_request(@env)
      @env[Rack::SESSION] = session
      @env[Rack::SESSION_ID] = session.id
      session
    end

    public

    # The engine calls this with the session's data inside the update.
    class Updater
      attr_reader :error

      def initialize(block)
        @block = block
      end

      def apply(data)
        hash = Values.lift(data)
        returned = @block.call(hash)
        SessionioNative::Updated.new(data: Values.lower(hash), returned: Values.lower(returned))
      rescue Exception => e # rubocop:disable Lint/RescueException -- raised again by Session#update
        @error = e
        raise SessionioNative::SessionioError::Handler.new(message: e.message, answered: false)
      end
    end
    private_constant :Updater
  end
end
