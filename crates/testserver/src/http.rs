//! Just enough HTTP/1.1 for probes, curl and port-forward tests: one request at a time per
//! connection, Content-Length bodies, keep-alive.

use std::io::{BufRead, Read, Write};

/// Requests larger than this are refused; the server only ever sees small test requests.
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_HEAD_LINE: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct Request {
    pub method: String,
    /// The request target as sent (`/echo?msg=hi`).
    pub target: String,
    pub path: String,
    query: String,
    version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told to keep.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match connection.as_deref() {
            Some("close") => false,
            Some("keep-alive") => true,
            _ => self.version == "HTTP/1.1",
        }
    }
}

/// Reads one request; `Ok(None)` when the peer closed the connection between requests.
pub fn read_request(reader: &mut impl BufRead) -> Result<Option<Request>, String> {
    let Some(line) = read_line(reader)? else { return Ok(None) };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {line:?}\n"));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: version.to_string(),
        ..Request::default()
    };
    loop {
        let line = read_line(reader)?.ok_or("connection closed in headers\n")?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header {line:?}\n"))?;
        request.headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    if request.header("transfer-encoding").is_some() {
        return Err("chunked bodies are not supported\n".into());
    }
    let length = match request.header("content-length") {
        Some(n) => n.parse::<usize>().map_err(|_| format!("bad Content-Length {n:?}\n"))?,
        None => 0,
    };
    if length > MAX_BODY {
        return Err("body too large\n".into());
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).map_err(|e| format!("read body: {e}\n"))?;
    Ok(Some(request))
}

fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, String> {
    let mut line = Vec::new();
    let n = Read::take(&mut *reader, MAX_HEAD_LINE as u64)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("read request: {e}\n"))?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err("request line too long or cut short\n".into());
    }
    let line = String::from_utf8(line).map_err(|_| "request head is not UTF-8\n".to_string())?;
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

fn decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.as_bytes().to_vec() }
    }

    pub fn write_to(&self, out: &mut impl Write, keep_alive: bool) -> std::io::Result<()> {
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        );
        out.write_all(head.as_bytes())?;
        out.write_all(&self.body)?;
        out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_query_headers_and_body() {
        let raw = b"POST /echo?msg=a%20b+c&x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n";
        let mut reader = &raw[..];
        let r = read_request(&mut reader).unwrap().unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str(), r.body.as_slice()), ("POST", "/echo", &b"abc"[..]));
        assert_eq!(r.query("msg").as_deref(), Some("a b c"));
        assert_eq!(r.query("x").as_deref(), Some(""));
        assert_eq!(r.header("HOST"), Some("h"));
        assert!(r.keep_alive());
        let second = read_request(&mut reader).unwrap().unwrap();
        assert!(!second.keep_alive());
        assert!(read_request(&mut reader).unwrap().is_none());
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert!(read_request(&mut &b"GARBAGE\r\n\r\n"[..]).is_err());
        assert!(read_request(&mut &b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..]).is_err());
        assert!(read_request(&mut &b"GET / HTTP/1.1\r\nno colon\r\n\r\n"[..]).is_err());
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
