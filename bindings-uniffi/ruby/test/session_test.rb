# frozen_string_literal: true

require_relative "test_helper"

class SessionTest < Minitest::Test
  include TestSupport

  def test_reads_and_writes
    session = start_engine.create_session
    assert_nil session.get("missing")
    assert_equal 7, session.get("missing", 7)
    session["user"] = "ada"
    session.set(:lang, "fr")
    assert_equal "ada", session[:user]
    assert_equal({ "user" => "ada", "lang" => "fr" }, session.data)
    assert_equal "fr", session.delete("lang")
    assert_nil session.delete("lang")
    assert_equal 1, session.increment("count")
    assert_equal 11, session.increment("count", 10)
    assert_equal(-1, session.increment("count", -12))
  end

  def test_update_runs_the_block_atomically_and_returns_its_value
    session = start_engine.create_session
    returned = session.update do |data|
      data["list"] = [1, 2]
      data.delete("nothing")
      :done
    end
    assert_equal "done", returned
    assert_equal [1, 2], session["list"]
    # An exception from the block is raised again as it was, and nothing is written.
    error = assert_raises(KeyError) { session.update { |data| data["list"] = []; raise KeyError, "no" } }
    assert_equal "no", error.message
    assert_equal [1, 2], session["list"]
    bad = assert_raises(Sessionio::InvalidValueError) { session.update { |data| data["b"] = "\x00".b } }
    assert_match(/binary data cannot be stored in a session/, bad.message)
    assert_raises(ArgumentError) { session.update }
  end

  def test_concurrent_increments_lose_nothing
    session = start_engine.create_session
    threads = Array.new(8) { Thread.new { 25.times { session.increment("n") } } }
    threads.each(&:join)
    updates = Array.new(4) { Thread.new { 10.times { session.update { |d| d["m"] = d.fetch("m", 0) + 1 } } } }
    updates.each(&:join)
    assert_equal [200, 40], [session["n"], session["m"]]
  end

  def test_expiry_save_regenerate_destroy_and_notify
    engine = start_engine(ttl: 60)
    session, cookie = session_and_cookie(engine)
    assert_in_delta Time.now + 60, session.expires_at, 5
    assert_same session, session.save
    client = connect(engine, cookie: cookie)
    assert_equal 1, session.notify("ping", [1, "two"])
    assert_equal ["ping", [1, "two"]], client.next_event
    session["kept"] = true
    renewed = session.regenerate
    refute_equal session.id, renewed.id
    assert_equal true, renewed["kept"]
    assert_raises(Sessionio::SessionNotFoundError) { engine.session(session.id) }
    assert client.disconnected?, "regenerate disconnects the old id's sockets"
    assert_equal 0, renewed.destroy
    assert_raises(Sessionio::SessionNotFoundError) { renewed["kept"] }
  end
end
