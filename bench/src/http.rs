//! A minimal HTTP/1.1 keep-alive client: enough for `GET /` (take the session cookie)
//! and `POST /incr` (read the new count), with no allocation beyond the response.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct HttpConn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

pub struct Response {
    pub status: u16,
    /// `name=value` of the first Set-Cookie, if any.
    pub cookie: Option<String>,
    pub body: Vec<u8>,
}

impl HttpConn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<HttpConn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream: BufReader::new(stream),
            addr,
        })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
    ) -> Result<Response, String> {
        self.request_with_body(method, path, cookie, None).await
    }

    /// A request with a body: `(content type, bytes)`.
    pub async fn request_with_body(
        &mut self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Result<Response, String> {
        let (content_type, body) = body.unwrap_or(("", ""));
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !content_type.is_empty() {
            head.push_str("Content-Type: ");
            head.push_str(content_type);
            head.push_str("\r\n");
        }
        if let Some(c) = cookie {
            head.push_str("Cookie: ");
            head.push_str(c);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        head.push_str(body);
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())
            .await
            .map_err(|e| format!("{method} {path}: write: {e}"))?;
        self.read_response()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))
    }

    async fn read_response(&mut self) -> Result<Response, String> {
        let mut line = String::new();
        let mut status = 0u16;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut cookie = None;
        let mut first = true;
        loop {
            line.clear();
            let n = self
                .stream
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            let l = line.trim_end();
            if first {
                first = false;
                status = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad status line {l:?}"))?;
                continue;
            }
            if l.is_empty() {
                break;
            }
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("set-cookie") && cookie.is_none() {
                cookie = value.split(';').next().map(str::to_owned);
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream
                    .read_line(&mut line)
                    .await
                    .map_err(|e| format!("read chunk: {e}"))?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                let mut chunk = vec![0; size + 2];
                self.stream
                    .read_exact(&mut chunk)
                    .await
                    .map_err(|e| format!("read chunk: {e}"))?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(len) = length {
            body.resize(len, 0);
            self.stream
                .read_exact(&mut body)
                .await
                .map_err(|e| format!("read body: {e}"))?;
        }
        Ok(Response {
            status,
            cookie,
            body,
        })
    }

    /// `GET /` without a cookie: the new session's cookie (`name=value`).
    pub async fn new_session(&mut self) -> Result<String, String> {
        let r = self.request("GET", "/", None).await?;
        if r.status != 200 {
            return Err(format!("GET / answered {}", r.status));
        }
        r.cookie.ok_or_else(|| "GET / set no cookie".to_owned())
    }

    /// `POST /login` with the form field `user`, for the session of `cookie`: the cookie of
    /// its new id (a login gives the session one).
    pub async fn login(&mut self, cookie: &str, user: &str) -> Result<String, String> {
        let form = format!("user={user}");
        let r = self
            .request_with_body(
                "POST",
                "/login",
                Some(cookie),
                Some(("application/x-www-form-urlencoded", &form)),
            )
            .await?;
        if r.status != 204 {
            return Err(format!("POST /login answered {}", r.status));
        }
        let fresh = r.cookie.ok_or("POST /login set no cookie")?;
        if fresh == cookie {
            return Err("POST /login kept the session's id".into());
        }
        Ok(fresh)
    }

    /// `POST /incr`: the session's new count.
    pub async fn incr(&mut self, cookie: &str) -> Result<u64, String> {
        let r = self.request("POST", "/incr", Some(cookie)).await?;
        if r.status != 200 {
            return Err(format!(
                "POST /incr answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        std::str::from_utf8(&r.body)
            .ok()
            .and_then(|b| b.trim().parse().ok())
            .ok_or_else(|| format!("POST /incr body is not a count: {:?}", r.body))
    }

    /// `GET /metrics` (Prometheus text): the value of each metric of `names`, in order; a
    /// metric missing from the answer is an error.
    pub async fn metrics(&mut self, names: &[&str]) -> Result<Vec<u64>, String> {
        let r = self.request("GET", "/metrics", None).await?;
        metric_values(&r, names)
    }
}

/// The value of each metric of `names` in a `GET /metrics` answer, in order; a metric the
/// server does not report is an error (an old build would otherwise read as 0).
pub fn metric_values(r: &Response, names: &[&str]) -> Result<Vec<u64>, String> {
    if r.status != 200 {
        return Err(format!("GET /metrics answered {}", r.status));
    }
    let text = String::from_utf8_lossy(&r.body);
    names
        .iter()
        .map(|name| {
            text.lines()
                .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .find_map(|v| v.trim().parse::<f64>().ok())
                .map(|v| v as u64)
                .ok_or_else(|| format!("GET /metrics has no {name}"))
        })
        .collect()
}
