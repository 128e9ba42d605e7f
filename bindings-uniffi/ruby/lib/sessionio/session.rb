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
    # session. In a request, the response sets the new cookie.
    def regenerate
      Session.new(@native.regenerate)
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
