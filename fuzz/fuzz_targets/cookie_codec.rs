//! The session cookie codec (`Signer::sign_cookie` / `verify_cookie`).
//!
//! - The input, as text, is a cookie value: verifying it never panics, and a value that
//!   verifies is exactly the canonical cookie of the id it names (one session, one cookie).
//! - An id made from the input's bytes round-trips: `verify(sign(id)) == Some(id)`.
//! - That cookie with one character replaced (position and replacement from the input),
//!   removed, inserted, or with the cookie truncated, never verifies.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use sessionio::SessionId;

fuzz_target!(|data: &[u8]| {
    let signer = sessionio_fuzz::signer();

    // Arbitrary text as a cookie value.
    let text = String::from_utf8_lossy(data);
    if let Some(id) = signer.verify_cookie(&text) {
        assert_eq!(
            signer.sign_cookie(&id),
            text,
            "a verified cookie is canonical"
        );
    }

    // Round trip of an id derived from the input.
    let mut u = Unstructured::new(data);
    let id = SessionId(u.arbitrary::<i128>().unwrap_or_default());
    let cookie = signer.sign_cookie(&id);
    assert_eq!(cookie.len(), 22 + 1 + 43, "{cookie}");
    assert_eq!(signer.verify_cookie(&cookie), Some(id), "{cookie}");

    let chars: Vec<char> = cookie.chars().collect();
    let pos = u.choose_index(chars.len()).unwrap_or(0);
    let mut replacement = u.arbitrary::<char>().unwrap_or('A');
    if replacement == chars[pos] {
        replacement = if chars[pos] == 'A' { 'B' } else { 'A' };
    }

    let mut flipped = chars.clone();
    flipped[pos] = replacement;
    let flipped: String = flipped.into_iter().collect();
    assert_eq!(
        signer.verify_cookie(&flipped),
        None,
        "one char flipped: {flipped:?}"
    );

    let mut removed = chars.clone();
    removed.remove(pos);
    let removed: String = removed.into_iter().collect();
    assert_eq!(
        signer.verify_cookie(&removed),
        None,
        "one char removed: {removed:?}"
    );

    let mut inserted = chars.clone();
    inserted.insert(pos, replacement);
    let inserted: String = inserted.into_iter().collect();
    assert_eq!(
        signer.verify_cookie(&inserted),
        None,
        "one char inserted: {inserted:?}"
    );

    let truncated: String = chars[..pos].iter().collect();
    assert_eq!(
        signer.verify_cookie(&truncated),
        None,
        "truncated: {truncated:?}"
    );

    // A cookie is never a token, under any expiry.
    let exp = u.arbitrary::<u64>().unwrap_or(u64::MAX);
    let (id_part, sig) = cookie.split_once('.').unwrap();
    assert!(signer
        .verify_token(&format!("{id_part}.{exp}.{sig}"), 0)
        .is_err());
});
