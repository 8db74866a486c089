//! The test images' server. Serves HTTP endpoints the node agent's tests drive (health and
//! readiness switches, echo, exit codes, cpu and memory load), a TCP echo port and the gRPC
//! health service (following the same health switch); called
//! `pause` (or with the `pause` argument) it is a pod sandbox's pause process instead.

mod grpc;
mod http;
mod options;
mod signals;

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use http::{Request, Response};
use options::Options;

static HEALTHY: AtomicBool = AtomicBool::new(true);
static READY: AtomicBool = AtomicBool::new(true);
/// Memory the `/memory` endpoint allocated, kept until exit.
static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// The body of `GET /`, from `--index`.
static INDEX: OnceLock<String> = OnceLock::new();

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let called_pause = args.first().is_some_and(|a| a.rsplit('/').next() == Some("pause"));
    if called_pause || args.get(1).map(String::as_str) == Some("pause") {
        signals::pause();
    }
    let options = match Options::parse(&args.split_off(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("testserver: {message}\n{}", options::USAGE);
            std::process::exit(2);
        }
    };
    // Before any thread starts, so that every thread inherits the blocked set and only the
    // main thread's sigwait sees SIGTERM.
    let signal_set = signals::block();
    let term_delay = options.term_delay;
    serve(options);
    let signal = signals::wait_for_termination(&signal_set);
    // Graceful termination tests watch for this line and the delay before exit.
    println!("received {signal}, exiting in {term_delay} s");
    thread::sleep(Duration::from_secs(term_delay));
    println!("exiting");
}

fn serve(options: Options) {
    READY.store(options.ready_after.is_none() && !options.unready, Ordering::Relaxed);
    if let Some(index) = options.index {
        let _ = INDEX.set(index);
    }
    if options.start_delay > 0 {
        println!("starting in {} s", options.start_delay);
        thread::sleep(Duration::from_secs(options.start_delay));
    }
    let http = bind(options.http_port, "HTTP");
    let http_addr = http.local_addr().map(|a| a.to_string()).unwrap_or_default();
    println!("listening on http {http_addr}");
    thread::spawn(move || accept(http, serve_http));
    if options.tcp_port.is_some() {
        let tcp = bind(options.tcp_port.unwrap_or(0), "TCP echo");
        let tcp_addr = tcp.local_addr().map(|a| a.to_string()).unwrap_or_default();
        println!("listening on tcp-echo {tcp_addr}");
        thread::spawn(move || accept(tcp, serve_echo));
    }
    if let Some(port) = options.grpc_port {
        let grpc = bind(port, "gRPC health");
        let grpc_addr = grpc.local_addr().map(|a| a.to_string()).unwrap_or_default();
        println!("listening on grpc {grpc_addr}");
        thread::spawn(move || {
            accept(grpc, |stream| {
                let _ = grpc::serve(stream, || HEALTHY.load(Ordering::Relaxed));
            })
        });
    }
    if let Some(after) = options.ready_after {
        thread::spawn(move || {
            thread::sleep(Duration::from_secs(after));
            READY.store(true, Ordering::Relaxed);
            println!("ready");
        });
    }
    if let Some(after) = options.unhealthy_after {
        thread::spawn(move || {
            thread::sleep(Duration::from_secs(after));
            HEALTHY.store(false, Ordering::Relaxed);
            println!("unhealthy");
        });
    }
    if let Some(after) = options.exit_after {
        let code = options.exit_code;
        thread::spawn(move || {
            thread::sleep(Duration::from_secs(after));
            println!("exiting with {code}");
            std::process::exit(code);
        });
    }
}

fn bind(port: u16, what: &str) -> TcpListener {
    TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        eprintln!("testserver: listen for {what} on port {port}: {e}");
        std::process::exit(1);
    })
}

fn accept(listener: TcpListener, handle: fn(TcpStream)) {
    for stream in listener.incoming().flatten() {
        thread::spawn(move || handle(stream));
    }
}

fn serve_echo(mut stream: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn serve_http(stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = std::io::BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(message) => {
                let _ = Response::text(400, &message).write_to(&mut writer, false);
                return;
            }
        };
        let keep_alive = request.keep_alive();
        let (response, then_exit) = route(&request);
        println!("{} {} {}", request.method, request.target, response.status);
        if response.write_to(&mut writer, keep_alive).is_err() {
            return;
        }
        if let Some(code) = then_exit {
            std::process::exit(code);
        }
        if !keep_alive {
            return;
        }
    }
}

/// Answers a request; the second value asks to exit with that code once the answer is sent.
fn route(request: &Request) -> (Response, Option<i32>) {
    let query = |name: &str| request.query(name);
    let number = |name: &str| query(name).and_then(|v| v.parse::<u64>().ok());
    let post = request.method == "POST";
    let response = match request.path.as_str() {
        "/" => match INDEX.get() {
            Some(page) if page.starts_with('<') => {
                Response { content_type: "text/html", ..Response::text(200, page) }
            }
            Some(page) => Response::text(200, page),
            None => Response::text(200, "tugboat testserver\n"),
        },
        "/healthz" | "/livez" => switch(&HEALTHY, "healthy", "unhealthy"),
        "/readyz" => switch(&READY, "ready", "not ready"),
        "/healthz/fail" | "/healthz/pass" | "/readyz/fail" | "/readyz/pass" if post => {
            let flag = if request.path.starts_with("/healthz") { &HEALTHY } else { &READY };
            flag.store(request.path.ends_with("/pass"), Ordering::Relaxed);
            Response::text(200, "ok\n")
        }
        "/hostname" => Response::text(200, &format!("{}\n", hostname())),
        "/echo" if post => Response { status: 200, body: request.body.clone(), ..Response::text(200, "") },
        "/echo" => Response::text(200, &query("msg").unwrap_or_default()),
        "/headers" => {
            let lines: String = request.headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
            Response::text(200, &lines)
        }
        "/env" => match query("name") {
            Some(name) => match std::env::var(&name) {
                Ok(value) => Response::text(200, &value),
                Err(_) => Response::text(404, &format!("{name} is not set\n")),
            },
            None => {
                Response::text(200, &std::env::vars().map(|(k, v)| format!("{k}={v}\n")).collect::<String>())
            }
        },
        "/file" => match query("path").map(std::fs::read) {
            Some(Ok(data)) => Response { body: data, ..Response::text(200, "") },
            Some(Err(e)) => Response::text(404, &format!("{e}\n")),
            None => Response::text(400, "path= is required\n"),
        },
        "/status" => {
            let code = number("code").unwrap_or(200).clamp(100, 599) as u16;
            Response::text(code, &format!("status {code}\n"))
        }
        "/sleep" => {
            thread::sleep(Duration::from_millis(number("ms").unwrap_or(1000)));
            Response::text(200, "slept\n")
        }
        "/exit" => {
            let code = query("code").and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            return (Response::text(200, &format!("exiting with {code}\n")), Some(code));
        }
        "/cpu" => Response::text(200, &format!("burned {} rounds\n", burn(number("ms").unwrap_or(1000)))),
        "/memory" => {
            let mib = number("mb").unwrap_or(0) as usize;
            // Non-zero bytes touch every page, so the memory is charged to the cgroup now.
            let held = {
                let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
                held.push(vec![0xa5; mib * 1024 * 1024]);
                held.iter().map(Vec::len).sum::<usize>() / (1024 * 1024)
            };
            Response::text(200, &format!("holding {held} MiB\n"))
        }
        _ => Response::text(404, "not found\n"),
    };
    (response, None)
}

fn switch(flag: &AtomicBool, on: &str, off: &str) -> Response {
    if flag.load(Ordering::Relaxed) {
        Response::text(200, &format!("{on}\n"))
    } else {
        Response::text(503, &format!("{off}\n"))
    }
}

/// Keeps one core busy for `ms` milliseconds.
fn burn(ms: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_millis(ms);
    let mut rounds = 0u64;
    let mut x = 1u64;
    while Instant::now() < deadline {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        rounds += 1;
    }
    rounds
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname NUL-terminates within it
    // when the name fits, and the last byte stays 0 otherwise.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
