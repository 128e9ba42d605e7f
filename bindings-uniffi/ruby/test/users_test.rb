# frozen_string_literal: true

require_relative "test_helper"

# Users across sessions: Session#login/logout/user_id, Engine#notify_user, #destroy_user,
# #user_sessions, #destroy_user_session, #user_index_size, Socket#user_id.
class UsersTest < Minitest::Test
  include TestSupport

  # A stored session logged in as `user`, and the Cookie header that presents it.
  def logged_in(engine, user, user_agent: nil, address: nil)
    request = engine.http_request(nil, user_agent: user_agent, address: address)
    session = request.session.save.login(user)
    [session, engine.set_cookie(session.id).split(";").first]
  end

  def test_login_rotates_the_id_and_binds_the_user
    engine = start_engine
    session, cookie = session_and_cookie(engine)
    session["count"] = 3
    client = connect(engine, cookie: cookie)
    assert_nil session.user_id
    renewed = session.login("ada")
    assert_kind_of Sessionio::Session, renewed
    refute_equal session.id, renewed.id
    assert_equal "ada", renewed.user_id
    assert_equal 3, renewed["count"], "login keeps the data"
    assert_raises(Sessionio::SessionNotFoundError) { engine.session(session.id) }
    assert client.disconnected?, "login disconnects the old id's sockets"
    assert_equal "invalid session", connect(engine, cookie: cookie).connect_error
    assert_equal ["ada"], [engine.session(renewed.id).user_id]
    # Anything whose to_s names the user: an Integer id is its digits.
    assert_equal "42", renewed.login(42).user_id
  end

  def test_logout_unbinds_under_a_new_id_and_keeps_the_data
    engine = start_engine
    session, = logged_in(engine, "ada")
    session["theme"] = "dark"
    assert_equal 1, engine.user_sessions("ada").size
    out = session.logout
    refute_equal session.id, out.id
    assert_nil out.user_id
    assert_equal "dark", out["theme"]
    assert_equal [], engine.user_sessions("ada")
    assert_raises(Sessionio::SessionNotFoundError) { session.user_id }
  end

  def test_a_bad_user_id_is_the_engines_invalid_value_error
    engine = start_engine
    session = engine.create_session
    ["", "u" * 257, "a\nb", "a\u0000"].each do |bad|
      error = assert_raises(Sessionio::InvalidValueError, bad.inspect) { session.login(bad) }
      assert_equal "ERR_INVALID_VALUE", error.code
      assert_kind_of Sessionio::Error, error
    end
    assert_equal "invalid value: a user id has 1 to 256 bytes, not 0",
                 assert_raises(Sessionio::InvalidValueError) { session.login("") }.message
    assert_match(/no control characters/, assert_raises(Sessionio::InvalidValueError) { session.login("a\tb") }.message)
    not_utf8 = assert_raises(Sessionio::InvalidValueError) { session.login("\xff".b) }
    assert_match(/not valid UTF-8/, not_utf8.message)
    assert_nil session.user_id, "a refused login binds nobody"
    assert_equal "u" * 256, session.login("u" * 256).user_id
    # Every user call checks the id the same way.
    assert_raises(Sessionio::InvalidValueError) { engine.notify_user("", "x") }
    assert_raises(Sessionio::InvalidValueError) { engine.user_sessions("a\nb") }
    assert_raises(Sessionio::InvalidValueError) { engine.destroy_user("") }
    assert_raises(Sessionio::InvalidValueError) { engine.destroy_user_session("", "handle") }
    assert_raises(Sessionio::InvalidSessionIdError) { engine.destroy_user("ada", except: "nope") }
  end

  def test_notify_user_reaches_every_socket_of_the_users_sessions
    engine = start_engine
    _, phone = logged_in(engine, "ada")
    _, laptop = logged_in(engine, "ada")
    _, other = logged_in(engine, "bob")
    mine = [connect(engine, cookie: phone), connect(engine, cookie: phone), connect(engine, cookie: laptop)]
    theirs = connect(engine, cookie: other)
    assert_equal 3, engine.notify_user("ada", "user message", { "text" => "hi" })
    mine.each { |client| assert_equal ["user message", { "text" => "hi" }], client.next_event }
    assert_equal 1, engine.notify_user(:bob, "user message", "only bob")
    assert_equal ["user message", "only bob"], theirs.next_event
    assert_equal 0, engine.notify_user("nobody", "user message")
  end

  def test_user_sessions_lists_handles_clients_times_and_sockets
    engine = start_engine
    before = Time.now
    phone, phone_cookie = logged_in(engine, "ada", user_agent: "phone-browser/1.0", address: "::ffff:10.0.0.7")
    laptop, = logged_in(engine, "ada")
    list = engine.user_sessions("ada")
    assert_equal 2, list.size
    assert_kind_of Sessionio::UserSession, list.first
    assert_equal %i[handle created_at last_seen user_agent address sockets], list.first.members
    # The client of each login: the one its request reported, none for the other.
    assert_equal [["phone-browser/1.0", "10.0.0.7", 0], [nil, nil, 0]],
                 list.map { |e| [e.user_agent, e.address, e.sockets] }.sort_by { |e| e.first.to_s }.reverse
    list.each do |entry|
      assert_kind_of Time, entry.created_at
      assert_kind_of Time, entry.last_seen
      assert_in_delta before, entry.created_at, 5
      assert_operator entry.last_seen, :>=, entry.created_at
      assert_kind_of String, entry.handle
      [phone.id, laptop.id].each do |id|
        refute_equal id, entry.handle
        refute_includes id, entry.handle
        refute_includes entry.handle, id
      end
    end
    refute_equal list[0].handle, list[1].handle
    phone_handle = list.find(&:user_agent).handle

    # A socket is counted, and its handshake's client (the test client's User-Agent is
    # Net::HTTP's) becomes the session's.
    connect(engine, cookie: phone_cookie)
    eventually { engine.user_sessions("ada").find { |e| e.handle == phone_handle }.user_agent == "Ruby" }
    phone_entry = engine.user_sessions("ada").find { |e| e.handle == phone_handle }
    assert_equal ["127.0.0.1", 1], [phone_entry.address, phone_entry.sockets]
    assert_equal [phone_handle], engine.user_sessions("ada").select { |e| e.sockets == 1 }.map(&:handle)
    assert_equal [], engine.user_sessions("nobody")
  end

  def test_destroy_user_session_signs_one_device_out
    engine = start_engine
    _, phone_cookie = logged_in(engine, "ada")
    laptop, = logged_in(engine, "ada")
    logged_in(engine, "bob")
    phone_socket = connect(engine, cookie: phone_cookie)
    phone_entry = engine.user_sessions("ada").find { |e| e.sockets == 1 }
    bob_entry = engine.user_sessions("bob").first
    refute engine.destroy_user_session("ada", bob_entry.handle), "another user's handle names nothing"
    refute engine.destroy_user_session("bob", phone_entry.handle)
    refute engine.destroy_user_session("ada", "not-a-handle")
    assert_equal true, engine.destroy_user_session("ada", phone_entry.handle)
    assert phone_socket.disconnected?
    assert_equal "invalid session", connect(engine, cookie: phone_cookie).connect_error
    assert_equal false, engine.destroy_user_session("ada", phone_entry.handle), "already gone"
    remaining = engine.user_sessions("ada")
    assert_equal 1, remaining.size
    refute_equal phone_entry.handle, remaining.first.handle
    assert_equal "ada", laptop.user_id
  end

  def test_destroy_user_spares_the_except_session
    engine = start_engine
    mine, = logged_in(engine, "ada")
    _, phone_cookie = logged_in(engine, "ada")
    _, tablet_cookie = logged_in(engine, "ada")
    bob, = logged_in(engine, "bob")
    kicked = [connect(engine, cookie: phone_cookie), connect(engine, cookie: tablet_cookie)]
    assert_equal 2, engine.destroy_user("ada", except: mine.id)
    kicked.each { |client| assert client.disconnected? }
    assert_equal 1, engine.user_sessions("ada").size
    assert_equal "ada", mine.user_id
    assert_equal 1, engine.destroy_user("ada")
    assert_raises(Sessionio::SessionNotFoundError) { mine.user_id }
    assert_equal 0, engine.destroy_user("ada")
    assert_equal "bob", bob.user_id, "another user is untouched"
  end

  def test_user_index_size_counts_users_and_sessions
    engine = start_engine
    assert_equal({ users: 0, sessions: 0 }, engine.user_index_size)
    logged_in(engine, "ada")
    logged_in(engine, "ada")
    logged_in(engine, "bob")
    engine.create_session.save
    assert_equal({ users: 2, sessions: 3 }, engine.user_index_size)
    engine.destroy_user("ada")
    assert_equal({ users: 1, sessions: 1 }, engine.user_index_size)
  end

  def test_socket_user_id_is_the_user_at_admission
    engine = start_engine
    sockets = Queue.new
    engine.on_connection { |socket| sockets << socket }
    _, cookie = logged_in(engine, "ada")
    connect(engine, cookie: cookie)
    assert_equal "ada", sockets.pop.user_id
    _, anonymous_cookie = session_and_cookie(engine)
    connect(engine, cookie: anonymous_cookie)
    assert_nil sockets.pop.user_id
  end
end
