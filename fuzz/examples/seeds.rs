//! Writes the hand-made seed inputs into `corpus/<target>/seed-*` (run from `fuzz/`:
//! `cargo +nightly run --example seeds`). The cookies and tokens are signed with the
//! fixtures' secret for their fixed session ids, so they stay valid across runs.

use std::fs;
use std::path::Path;

use sessionio::SessionId;
use sessionio_fuzz::{signer, COOKIE_NAME, EXPIRED, FAR_FUTURE_MS, LIVE, ORIGIN};

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn with_now(now: u64, text: &str) -> Vec<u8> {
    let mut v = now.to_le_bytes().to_vec();
    v.extend_from_slice(text.as_bytes());
    v
}

fn main() {
    let s = signer();
    let live = s.sign_cookie(&LIVE);
    let expired = s.sign_cookie(&EXPIRED);
    let other = s.sign_cookie(&SessionId(42));
    let live_token = s.sign_token(&LIVE.to_string(), FAR_FUTURE_MS);
    let old_token = s.sign_token(&LIVE.to_string(), 1_000);
    let expired_token = s.sign_token(&EXPIRED.to_string(), FAR_FUTURE_MS);

    // cookie_codec: cookie values, valid and not.
    write("cookie_codec", "live", &live);
    write("cookie_codec", "other", &other);
    write("cookie_codec", "unsigned", format!("{}.", LIVE));
    write(
        "cookie_codec",
        "forged",
        format!("{LIVE}.{}", "A".repeat(43)),
    );
    write("cookie_codec", "token", &live_token);

    // token_codec: 8 bytes of `now`, then a token.
    write(
        "token_codec",
        "live",
        with_now(1_700_000_000_000, &live_token),
    );
    write(
        "token_codec",
        "expired",
        with_now(1_700_000_000_000, &old_token),
    );
    write(
        "token_codec",
        "boundary",
        with_now(FAR_FUTURE_MS, &live_token),
    );
    write("token_codec", "cookie", with_now(0, &live));
    write(
        "token_codec",
        "leading-zero",
        with_now(0, &format!("{LIVE}.0001000.x")),
    );

    // cookie_header: a header alone, or `name\0header`.
    write(
        "cookie_header",
        "browser",
        format!("theme=dark; {COOKIE_NAME}={live}; lang=fr"),
    );
    write(
        "cookie_header",
        "several",
        format!("{COOKIE_NAME}=\"{other}\";{COOKIE_NAME}= {live} ;x=1;{COOKIE_NAME}"),
    );
    write("cookie_header", "named", "sid\0 sid = \"a=b\" ; sid=; =sid");

    // handshake: request heads, optionally followed by the JSON auth object.
    let head = |extra: &str| {
        format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: app.test\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        )
    };
    write(
        "handshake",
        "cookie",
        head(&format!(
            "Origin: {ORIGIN}\r\nCookie: theme=dark; {COOKIE_NAME}={live}\r\n"
        )),
    );
    write(
        "handshake",
        "expired-cookie",
        head(&format!(
            "Origin: {ORIGIN}\r\nCookie: {COOKIE_NAME}={expired}\r\n"
        )),
    );
    write(
        "handshake",
        "two-cookie-headers",
        head(&format!(
            "Cookie: a=1\r\nCookie: {COOKIE_NAME}={other}; {COOKIE_NAME}={live}\r\n"
        )),
    );
    write(
        "handshake",
        "foreign-origin",
        head(&format!(
            "Origin: http://evil.test\r\nCookie: {COOKIE_NAME}={live}\r\n"
        )),
    );
    write(
        "handshake",
        "no-credential",
        head(&format!("Origin: {ORIGIN}\r\n")),
    );
    write(
        "handshake",
        "token",
        format!("{}{{\"token\":\"{live_token}\"}}", head("")),
    );
    write(
        "handshake",
        "tokens",
        format!(
            "{}{{\"token\":\"{old_token}\",\"other\":[\"{expired_token}\",null,1.5e300]}}",
            head(&format!("Origin: {ORIGIN}\r\n"))
        ),
    );
    eprintln!("seeds written");
}
